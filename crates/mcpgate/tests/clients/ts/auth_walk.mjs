#!/usr/bin/env node
// Drive an mcpgate that requires a bearer token with the official MCP TypeScript client
// (@modelcontextprotocol/client, the v2 line) over Streamable HTTP.
//
// The token comes from the environment variable MCPGATE_SDK_BEARER_TOKEN, never from the command
// line, so it does not show in process listings. When it is set, the transport gets the SDK's
// minimal bearer `authProvider` (`{ token }`), which puts `Authorization: Bearer <token>` on every
// request; when it is unset or empty, no Authorization header is sent.
//
//   MCPGATE_SDK_BEARER_TOKEN=... node auth_walk.mjs --url http://localhost:PORT/mcp --era legacy --expect accepted
//   node auth_walk.mjs --url http://localhost:PORT/mcp --era modern --expect refused
//
// `--expect accepted`: connect in the requested era, list the tools, call `health` and check it is
// not an error and reports `ok`; with `--create-task`, also create a task and report who the
// server says created it (`created_by`).
//
// `--expect refused`: connecting must fail, and the server must have answered 401 with a
// `WWW-Authenticate: Bearer ...` challenge. Succeeding at anything is a failure.
//
// Either way the script prints ONE JSON summary line and exits 0; any mismatch exits non-zero with
// `CHECK FAILED` and a message on stderr. The summary never contains the token: it only says
// whether an Authorization header was sent.
//
// Eras: `legacy` is the `initialize` handshake (2025-11-25, the client's default); `modern` pins
// 2026-07-28: connect sends `server/discover` and fails rather than fall back to `initialize`.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const TOKEN_VARIABLE = 'MCPGATE_SDK_BEARER_TOKEN';
const LEGACY_VERSION = '2025-11-25';
const MODERN_VERSION = '2026-07-28';
// Give up well before the test harness kills us, so the failure says where it hung.
const OVERALL_TIMEOUT_MS = 45_000;
const REQUEST_TIMEOUT_MS = 20_000;

class CheckFailed extends Error {}

function check(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

function sdkVersion() {
  const url = new URL('./node_modules/@modelcontextprotocol/client/package.json', import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      era: { type: 'string' },
      expect: { type: 'string' },
      'create-task': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const usage = 'usage: auth_walk.mjs --url URL --era legacy|modern --expect accepted|refused [--create-task]';
  if (!values.url) throw new Error(`${usage}: --url is required`);
  if (!['legacy', 'modern'].includes(values.era)) throw new Error(`${usage}: bad --era`);
  if (!['accepted', 'refused'].includes(values.expect)) throw new Error(`${usage}: bad --expect`);
  return values;
}

// A fetch that records, for each exchange, the facts the summary reports: method, status, the
// challenge of a refusal, whether an Authorization header went out (never its value), and the
// session ids sent and answered (a session id is not a credential).
function recordingFetch(log) {
  return async (input, init) => {
    const response = await fetch(input, init);
    const sent = new Headers(init?.headers);
    log.push({
      method: init?.method ?? 'GET',
      status: response.status,
      authorizationSent: sent.has('authorization'),
      wwwAuthenticate: response.headers.get('www-authenticate'),
      sentSessionId: sent.get('mcp-session-id'),
      sessionId: response.headers.get('mcp-session-id'),
    });
    return response;
  };
}

function httpFacts(log) {
  const first = log.findIndex((e) => e.sessionId !== null);
  const assigned = first === -1 ? null : log[first].sessionId;
  const later = first === -1 ? [] : log.slice(first + 1);
  return {
    requests: log.map((e) => `${e.method} ${e.status}`),
    authorization_sent: log.map((e) => e.authorizationSent),
    challenges: log.map((e) => e.wwwAuthenticate).filter((c) => c !== null),
    session_id: assigned,
    session_id_echoed: assigned !== null && later.length > 0 && later.every((e) => e.sentSessionId === assigned),
  };
}

async function listAllTools(client) {
  const result = await client.listTools(undefined, { timeout: REQUEST_TIMEOUT_MS });
  return result.tools.map((t) => t.name);
}

async function callStructured(client, tool, args) {
  const result = await client.callTool({ name: tool, arguments: args }, { timeout: REQUEST_TIMEOUT_MS });
  const text = (result.content ?? []).filter((b) => b.type === 'text').map((b) => b.text).join('');
  check(result.isError !== true, `${tool}: isError is ${result.isError}: ${text}`);
  const sc = result.structuredContent;
  check(sc !== null && typeof sc === 'object' && !Array.isArray(sc), `${tool}: no structuredContent object`);
  return sc;
}

async function runAccepted(client, args, expectedVersion) {
  const version = client.getNegotiatedProtocolVersion();
  check(version === expectedVersion, `negotiated protocol version is ${version}, expected ${expectedVersion}`);
  const tools = await listAllTools(client);
  check(tools.includes('health'), `tool health missing from tools/list: ${tools}`);
  const health = await callStructured(client, 'health', {});
  check(health.status === 'ok', `health status is ${health.status}: ${JSON.stringify(health)}`);
  const out = { protocol_version: version, tools, health: { is_error: false, status: health.status } };
  if (args['create-task']) {
    check(tools.includes('create_task'), `tool create_task missing from tools/list: ${tools}`);
    const task = await callStructured(client, 'create_task', { title: `Rotate the signing key ${randomBytes(4).toString('hex')}` });
    out.task = { id: task.id, created_by: task.created_by };
  }
  return out;
}

async function run(args) {
  const expectedVersion = args.era === 'legacy' ? LEGACY_VERSION : MODERN_VERSION;
  const options = args.era === 'modern' ? { versionNegotiation: { mode: { pin: MODERN_VERSION } } } : {};
  const token = process.env[TOKEN_VARIABLE] ?? '';
  const client = new Client({ name: 'mcpgate-sdk-auth-test-node', version: sdkVersion() }, options);
  const summary = {
    sdk: 'node:@modelcontextprotocol/client',
    sdk_version: sdkVersion(),
    era: args.era,
    expect: args.expect,
    token_given: token !== '',
  };
  const httpLog = [];
  const transportOptions = { fetch: recordingFetch(httpLog) };
  if (token !== '') transportOptions.authProvider = { token: async () => token };
  const transport = new StreamableHTTPClientTransport(new URL(args.url), transportOptions);

  let outcome;
  let failure;
  try {
    await client.connect(transport, { timeout: REQUEST_TIMEOUT_MS });
    outcome = await runAccepted(client, args, expectedVersion);
  } catch (e) {
    if (e instanceof CheckFailed) throw e;
    failure = e;
  } finally {
    await client.close().catch(() => {});
  }
  summary.http = httpFacts(httpLog);
  const statuses = httpLog.map((e) => e.status);
  if (args.expect === 'accepted') {
    check(failure === undefined, `the connection failed (${failure?.constructor?.name}: ${failure?.message}); HTTP exchanges: ${summary.http.requests}`);
    check(statuses.every((s) => s < 400), `a request failed: ${summary.http.requests}`);
    Object.assign(summary, { outcome: 'accepted' }, outcome);
  } else {
    check(failure !== undefined, `the server served a client it should have refused: listed ${outcome?.tools}`);
    check(statuses[0] === 401, `the first request was not refused with 401: ${statuses}`);
    const challenge = httpLog[0].wwwAuthenticate ?? '';
    check(challenge.startsWith('Bearer'), `the 401 carries no Bearer challenge: ${JSON.stringify(challenge)}`);
    Object.assign(summary, { outcome: 'refused', raised: failure?.constructor?.name ?? 'error', message: String(failure?.message ?? failure) });
  }
  return summary;
}

let label = 'node sdk auth client';
try {
  const args = parseCli(process.argv.slice(2));
  label = `node sdk auth client (${args.era}, expect ${args.expect})`;
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
