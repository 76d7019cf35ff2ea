#!/usr/bin/env node
// Drive a running (HTTP) or spawned (stdio) mcpgate with the official MCP TypeScript client
// (@modelcontextprotocol/client, the v2 line: the v1 `@modelcontextprotocol/sdk` package knows no
// protocol version newer than 2025-11-25 and cannot speak the stateless 2026-07-28 era).
//
// Connects in the requested protocol era, lists the tools (following nextCursor), calls `health`
// and `server_info`, checks the results, calls a tool that does not exist and checks that it fails
// cleanly, then prints ONE JSON line that summarizes what happened and exits 0. Any mismatch exits
// non-zero with a message on stderr.
//
//   node sdk_client.mjs --transport stdio --era legacy --command /path/to/mcpgate
//   node sdk_client.mjs --transport http  --era modern --url http://localhost:PORT/mcp
//
// Eras: `legacy` is the `initialize` handshake (2025-11-25, the client's default); `modern` pins
// 2026-07-28 (`versionNegotiation: { mode: { pin } }`): connect sends `server/discover` and fails
// loudly, with no fallback to `initialize`, unless the server offers that version.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';

import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';

const LEGACY_VERSION = '2025-11-25';
const MODERN_VERSION = '2026-07-28';
const EXPECTED_TOOLS = ['health', 'server_info'];
// Give up well before the test harness kills us, so the failure says where it hung.
const OVERALL_TIMEOUT_MS = 45_000;
const REQUEST_TIMEOUT_MS = 20_000;
const MAX_PAGES = 100;

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function sdkVersion() {
  const url = new URL('./node_modules/@modelcontextprotocol/client/package.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      transport: { type: 'string' },
      era: { type: 'string' },
      url: { type: 'string' },
      command: { type: 'string' },
      'server-env': { type: 'string', multiple: true, default: [] },
    },
    strict: true,
  });
  const usage = 'usage: sdk_client.mjs --transport stdio|http --era legacy|modern (--url URL | --command BINARY)';
  if (!['stdio', 'http'].includes(values.transport)) throw new Error(`${usage}: bad --transport`);
  if (!['legacy', 'modern'].includes(values.era)) throw new Error(`${usage}: bad --era`);
  if (values.transport === 'http' && !values.url) throw new Error(`${usage}: --transport http needs --url`);
  if (values.transport === 'stdio' && !values.command) throw new Error(`${usage}: --transport stdio needs --command`);
  return values;
}

// A fetch that records each exchange (method, status, session ids sent and answered) for the
// summary.
function recordingFetch(log) {
  return async (input, init) => {
    const response = await fetch(input, init);
    log.push({
      method: init?.method ?? 'GET',
      status: response.status,
      sentSessionId: new Headers(init?.headers).get('mcp-session-id'),
      sessionId: response.headers.get('mcp-session-id'),
    });
    return response;
  };
}

// The session id the server assigned first (null if none) and whether every later request
// carried it back.
function sessionFacts(log) {
  const first = log.findIndex((e) => e.sessionId !== null);
  const assigned = first === -1 ? null : log[first].sessionId;
  const later = first === -1 ? [] : log.slice(first + 1);
  return {
    session_id: assigned,
    session_id_echoed: assigned !== null && later.length > 0 && later.every((e) => e.sentSessionId === assigned),
  };
}

async function listAllTools(client) {
  // Walk the pages ourselves: the first page through a raw `tools/list` request (listTools()
  // without a cursor aggregates every page inside the SDK), the rest with explicit cursors.
  const tools = [];
  let page = await client.request({ method: 'tools/list', params: {} }, { timeout: REQUEST_TIMEOUT_MS });
  let pages = 1;
  for (;;) {
    tools.push(...page.tools);
    if (!page.nextCursor) break;
    check(pages < MAX_PAGES, `tools/list did not end after ${MAX_PAGES} pages`);
    page = await client.listTools({ cursor: page.nextCursor }, { timeout: REQUEST_TIMEOUT_MS });
    pages += 1;
  }
  // The SDK's own aggregate (which also primes the tool cache that callTool() validates
  // structuredContent against) must agree with the manual walk.
  const aggregate = await client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS });
  const walked = tools.map((t) => t.name);
  const aggregated = aggregate.tools.map((t) => t.name);
  check(deepEqual(walked, aggregated), `manual page walk ${JSON.stringify(walked)} != SDK aggregate ${JSON.stringify(aggregated)}`);
  return { tools, pages };
}

function structuredResult(result, tool) {
  check(result.isError !== true, `${tool}: isError is ${result.isError}: ${JSON.stringify(result.content)}`);
  const sc = result.structuredContent;
  check(sc !== null && typeof sc === 'object' && !Array.isArray(sc), `${tool}: no structuredContent object`);
  const texts = (result.content ?? []).filter((b) => b.type === 'text').map((b) => b.text);
  check(texts.length >= 1, `${tool}: no text content block`);
  let fromText;
  try {
    fromText = JSON.parse(texts[0]);
  } catch (e) {
    throw new CheckFailed(`${tool}: text block is not the serialized JSON result: ${e.message}`);
  }
  check(deepEqual(fromText, sc), `${tool}: text block ${texts[0]} does not match structuredContent ${JSON.stringify(sc)}`);
  return sc;
}

async function unknownTool(client, name) {
  let result;
  try {
    result = await client.callTool({ name, arguments: {} }, { timeout: REQUEST_TIMEOUT_MS });
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    check(e.message.includes(name), `unknown tool error does not name the tool: ${e.message}`);
    return { outcome: 'jsonrpc_error', code: e.code, message: e.message, data: e.data ?? null };
  }
  check(result.isError === true, `calling unknown tool ${name} succeeded: ${JSON.stringify(result)}`);
  const texts = (result.content ?? []).filter((b) => b.type === 'text').map((b) => b.text);
  check(texts.some((t) => t.includes(name)), `isError result for unknown tool does not name it: ${JSON.stringify(texts)}`);
  return { outcome: 'is_error', message: texts.join(' ') };
}

async function run(args) {
  const expectedVersion = args.era === 'legacy' ? LEGACY_VERSION : MODERN_VERSION;
  const options = args.era === 'modern' ? { versionNegotiation: { mode: { pin: MODERN_VERSION } } } : {};
  const client = new Client({ name: 'mcpgate-sdk-test-node', version: sdkVersion() }, options);
  const summary = { sdk: 'node:@modelcontextprotocol/client', sdk_version: sdkVersion(), transport: args.transport, era: args.era, scenario: 'standard' };

  let dataDir;
  let transport;
  const httpLog = [];
  if (args.transport === 'stdio') {
    dataDir = mkdtempSync(join(tmpdir(), 'mcpgate-sdk-node-'));
    const env = { ...getDefaultEnvironment(), MCPGATE_DATA_DIR: dataDir };
    for (const item of args['server-env']) {
      const at = item.indexOf('=');
      env[at < 0 ? item : item.slice(0, at)] = at < 0 ? '' : item.slice(at + 1);
    }
    transport = new StdioClientTransport({ command: args.command, args: ['serve', '--transport', 'stdio'], env, stderr: 'inherit' });
  } else {
    transport = new StreamableHTTPClientTransport(new URL(args.url), { fetch: recordingFetch(httpLog) });
  }

  try {
    await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
    const version = client.getNegotiatedProtocolVersion();
    check(version === expectedVersion, `negotiated protocol version is ${version}, expected ${expectedVersion}`);
    const era = client.getProtocolEra();
    check(era === args.era, `protocol era is ${era}, expected ${args.era}`);
    const discovered = client.getDiscoverResult();
    if (args.era === 'modern') {
      check(discovered !== undefined, 'modern connect has no server/discover result');
      check(discovered.supportedVersions.includes(MODERN_VERSION), `server/discover does not offer ${MODERN_VERSION}: ${discovered.supportedVersions}`);
      summary.era_facts = { handshake: 'server/discover', supported_versions: discovered.supportedVersions };
    } else {
      check(discovered === undefined, 'legacy connect has a server/discover result');
      summary.era_facts = { handshake: 'initialize' };
    }
    const info = client.getServerVersion();
    check(info?.name === 'mcpgate', `server did not identify as mcpgate: ${JSON.stringify(info)}`);

    const { tools, pages } = await listAllTools(client);
    const names = tools.map((t) => t.name);
    check(new Set(names).size === names.length, `tools/list repeated a tool across pages: ${names}`);
    for (const wanted of EXPECTED_TOOLS) check(names.includes(wanted), `tool ${wanted} missing from tools/list: ${names}`);
    for (const tool of tools.filter((t) => EXPECTED_TOOLS.includes(t.name))) {
      check(tool.outputSchema !== undefined, `${tool.name}: no outputSchema`);
      check(tool.annotations?.readOnlyHint === true, `${tool.name}: not annotated read-only`);
    }

    const health = structuredResult(await client.callTool({ name: 'health', arguments: {} }, { timeout: REQUEST_TIMEOUT_MS }), 'health');
    check(health.status === 'ok', `health status is ${health.status}: ${JSON.stringify(health)}`);
    const serverInfo = structuredResult(await client.callTool({ name: 'server_info', arguments: {} }, { timeout: REQUEST_TIMEOUT_MS }), 'server_info');
    check(serverInfo.name === 'mcpgate', `server_info name is ${serverInfo.name}`);
    check(serverInfo.tool_count === names.length, `server_info tool_count ${serverInfo.tool_count} != listed tools ${names.length}`);
    check((serverInfo.protocol_versions ?? []).includes(expectedVersion), `server_info does not list ${expectedVersion}: ${serverInfo.protocol_versions}`);

    const badName = `no_such_tool_${randomBytes(4).toString('hex')}`;
    Object.assign(summary, {
      protocol_version: version,
      server_name: info.name,
      tools: names,
      list_pages: pages,
      health: { is_error: false, status: health.status, structured_matches_text: true },
      server_info: { is_error: false, name: serverInfo.name, tool_count: serverInfo.tool_count, structured_matches_text: true },
      unknown_tool: { name: badName, ...(await unknownTool(client, badName)) },
    });
    if (args.transport === 'http') {
      summary.http = {
        requests: httpLog.map((e) => `${e.method} ${e.status}`),
        session_id_assigned: httpLog.some((e) => e.sessionId !== null),
        ...sessionFacts(httpLog),
      };
    }
  } finally {
    await client.close().catch(() => {});
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  return summary;
}

let label = 'node sdk client';
try {
  const args = parseCli(process.argv.slice(2));
  label = `node sdk client (${args.transport}, ${args.era})`;
  const timer = setTimeout(() => {
    process.stderr.write(`${label}: gave up after ${OVERALL_TIMEOUT_MS / 1000}s\n`);
    process.exit(2);
  }, OVERALL_TIMEOUT_MS);
  timer.unref();
  const summary = await run(args);
  process.stdout.write(`${JSON.stringify(summary)}\n`, () => process.exit(0));
} catch (e) {
  const kind = e instanceof CheckFailed ? 'CHECK FAILED' : `FAILED: ${e?.constructor?.name ?? 'error'}`;
  process.stderr.write(`${label}: ${kind}: ${e?.message ?? e}\n`);
  if (!(e instanceof CheckFailed) && e?.stack) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}
