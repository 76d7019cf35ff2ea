#!/usr/bin/env python3
"""Drive a running (HTTP) or spawned (stdio) mcpgate with the official MCP Python SDK.

Connects in the requested protocol era, lists the tools (following nextCursor), calls `health`
and `server_info`, checks the results, calls a tool that does not exist and checks that it fails
cleanly, then prints ONE JSON line that summarizes what happened and exits 0. Any mismatch exits
non-zero with a message on stderr.

    sdk_client.py --transport stdio --era legacy --command /path/to/mcpgate
    sdk_client.py --transport http  --era modern --url http://localhost:PORT/mcp
    sdk_client.py --transport sse   --era legacy --url http://localhost:PORT/sse

`--transport sse` is the legacy HTTP+SSE transport (2024-11-05): GET /sse, POST /messages.

Eras: `legacy` is the `initialize` handshake (2025-11-25); `modern` is the stateless 2026-07-28
protocol, pinned (no fallback to `initialize`) and confirmed with a `server/discover` round trip.

`--scenario workspace-walk` (HTTP only; the server needs MCPGATE_WORKSPACE_WRITE=true) walks a
realistic session: create a task, comment on it, find it with `search`, read it with `fetch`,
complete it with `process_task`, archive it, and check each answer.

`--scenario calls` (HTTP only) lists the tools and makes each `--call` (a JSON object with `tool`,
`arguments` and the `expect`ed text in the answer): how tests drive tools of upstreams federated
behind the gateway.

`--scenario soak` (HTTP only; needs MCPGATE_WORKSPACE_WRITE=true) calls tools in one session for
`--seconds`, one call after another (write a note, read it back, list notes, health), each bounded
by its own timeout, and reports how many succeeded, each failure with when it happened and how
long it took, the latency percentiles, and how many session ids the client used (one: the session
was never lost). Failures are reported, not raised: a test that kills a replica under it decides.

`--scenario unknown-tool` (HTTP only) runs just the bad-input check: the SDK must raise a JSON-RPC
error for an unknown tool that names the tool, and the error on the wire must carry the id of the
request that caused it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
EXPECTED_TOOLS = ("health", "server_info")
# Give up well before the test harness kills us, so the failure says where it hung.
OVERALL_TIMEOUT_SECONDS = 45.0
REQUEST_TIMEOUT_SECONDS = 20.0
MAX_PAGES = 100


class CheckFailed(Exception):
    """A result did not match what the server promises."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# ---------------------------------------------------------------------------------------------
# A recording HTTP transport: passes everything through unchanged and keeps a copy of each
# exchange, so the script can report wire-level facts (session ids, statuses, JSON-RPC ids).


class _TeeStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    async def __aiter__(self):  # type: ignore[override]
        async for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class RecordingTransport(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self.exchanges: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            body = request.content if request.method == "POST" else b""
        except httpx2.RequestNotRead:  # a streamed body: nothing to record
            body = b""
        response = await self._inner.handle_async_request(request)
        sink = bytearray()
        self.exchanges.append(
            {
                "method": request.method,
                "request_body": body,
                "request_headers": dict(request.headers),
                "status": response.status_code,
                "response_headers": dict(response.headers),
                "response_body": sink,
            }
        )
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, sink),  # type: ignore[arg-type]
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def _messages_in(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """JSON-RPC messages in a response body, whether plain JSON or an SSE stream."""
    text = body.decode("utf-8", errors="replace")
    if "text/event-stream" in content_type:
        messages = []
        for event in text.replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(line[5:].lstrip() for line in event.split("\n") if line.startswith("data:"))
            if data.strip():
                try:
                    messages.append(json.loads(data))
                except json.JSONDecodeError:
                    pass
        return messages
    if not text.strip():
        return []
    value = json.loads(text)
    return value if isinstance(value, list) else [value]


def wire_exchange_for_call(recorder: RecordingTransport, tool: str) -> tuple[Any, list[dict[str, Any]]]:
    """The JSON-RPC id of the `tools/call` for `tool` and the messages that answered it."""
    for exchange in recorder.exchanges:
        if exchange["method"] != "POST" or not exchange["request_body"]:
            continue
        sent = json.loads(exchange["request_body"])
        if sent.get("method") == "tools/call" and sent.get("params", {}).get("name") == tool:
            content_type = exchange["response_headers"].get("content-type", "")
            return sent.get("id"), _messages_in(bytes(exchange["response_body"]), content_type)
    raise CheckFailed(f"no tools/call for {tool!r} was seen on the wire")


def session_facts(pairs: list[tuple[str | None, str | None]]) -> dict[str, Any]:
    """From (request, response) `Mcp-Session-Id` values in order: the id the server assigned
    first (None if none) and whether every later request carried it back."""
    assigned: str | None = None
    later: list[str | None] = []
    for sent, answered in pairs:
        if assigned is None:
            assigned = answered
        else:
            later.append(sent)
    return {
        "session_id": assigned,
        "session_id_echoed": assigned is not None and bool(later) and all(s == assigned for s in later),
    }


def http_facts(recorder: RecordingTransport) -> dict[str, Any]:
    session_ids = {
        e["response_headers"]["mcp-session-id"] for e in recorder.exchanges if "mcp-session-id" in e["response_headers"]
    }
    pairs = [
        (e["request_headers"].get("mcp-session-id"), e["response_headers"].get("mcp-session-id"))
        for e in recorder.exchanges
    ]
    return {
        "requests": [f"{e['method']} {e['status']}" for e in recorder.exchanges],
        "session_id_assigned": bool(session_ids),
        **session_facts(pairs),
    }


# ---------------------------------------------------------------------------------------------


def _client_info() -> types.Implementation:
    return types.Implementation(name="mcpgate-sdk-test-python", version=importlib.metadata.version("mcp"))


async def connect_era(client: Client, era: str) -> dict[str, Any]:
    """Finish the era-specific part of the connection and describe it."""
    if era == "legacy":
        init = client.session.initialize_result
        check(init is not None, "legacy connect did not run the initialize handshake")
        return {"handshake": "initialize"}
    # The client adopted 2026-07-28 without a round trip; ask the server for real and adopt its
    # answer, which fails loudly if the server does not offer a modern version.
    raw = await client.session.send_discover(MODERN_VERSION)
    discovered = types.DiscoverResult.model_validate(raw)
    check(
        MODERN_VERSION in discovered.supported_versions,
        f"server/discover does not offer {MODERN_VERSION}: {discovered.supported_versions}",
    )
    client.session.adopt(discovered)
    return {"handshake": "server/discover", "supported_versions": discovered.supported_versions}


async def list_all_tools(client: Client) -> tuple[list[types.Tool], int]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await client.list_tools(cursor=cursor)
        pages += 1
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return tools, pages
        check(pages < MAX_PAGES, f"tools/list did not end after {MAX_PAGES} pages")


def structured_result(result: types.CallToolResult, tool: str) -> dict[str, Any]:
    """Check a successful structured result and return its structuredContent."""
    check(result.is_error is not True, f"{tool}: isError is {result.is_error!r}: {result.content!r}")
    check(isinstance(result.structured_content, dict), f"{tool}: no structuredContent object")
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    check(len(texts) >= 1, f"{tool}: no text content block")
    try:
        from_text = json.loads(texts[0])
    except json.JSONDecodeError as e:
        raise CheckFailed(f"{tool}: text block is not the serialized JSON result: {e}") from e
    check(
        from_text == result.structured_content,
        f"{tool}: text block {from_text!r} does not match structuredContent {result.structured_content!r}",
    )
    return result.structured_content


async def unknown_tool(client: Client, name: str) -> dict[str, Any]:
    try:
        result = await client.call_tool(name, {}, read_timeout_seconds=REQUEST_TIMEOUT_SECONDS)
    except MCPError as e:
        check(name in e.message, f"unknown tool error does not name the tool: {e.message!r}")
        return {"outcome": "jsonrpc_error", "code": e.code, "message": e.message, "data": e.data}
    check(result.is_error is True, f"calling unknown tool {name!r} succeeded: {result!r}")
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    check(any(name in t for t in texts), f"isError result for unknown tool does not name it: {texts!r}")
    return {"outcome": "is_error", "message": " ".join(texts)}


async def run_standard(client: Client, era: str, expected_version: str) -> dict[str, Any]:
    era_facts = await connect_era(client, era)
    check(
        client.protocol_version == expected_version,
        f"negotiated protocol version is {client.protocol_version!r}, expected {expected_version!r}",
    )
    info = client.server_info
    check(info is not None and info.name == "mcpgate", f"server did not identify as mcpgate: {info!r}")

    tools, pages = await list_all_tools(client)
    names = [t.name for t in tools]
    check(len(names) == len(set(names)), f"tools/list repeated a tool across pages: {names}")
    for wanted in EXPECTED_TOOLS:
        check(wanted in names, f"tool {wanted!r} missing from tools/list: {names}")
    for tool in tools:
        if tool.name in EXPECTED_TOOLS:
            check(tool.output_schema is not None, f"{tool.name}: no outputSchema")
            check(
                tool.annotations is not None and tool.annotations.read_only_hint is True,
                f"{tool.name}: not annotated read-only",
            )

    health = structured_result(await client.call_tool("health", {}), "health")
    check(health.get("status") == "ok", f"health status is {health.get('status')!r}: {health!r}")

    server_info = structured_result(await client.call_tool("server_info", {}), "server_info")
    check(server_info.get("name") == "mcpgate", f"server_info name is {server_info.get('name')!r}")
    check(
        server_info.get("tool_count") == len(names),
        f"server_info tool_count {server_info.get('tool_count')!r} != listed tools {len(names)}",
    )
    check(
        expected_version in server_info.get("protocol_versions", []),
        f"server_info does not list {expected_version}: {server_info.get('protocol_versions')!r}",
    )

    bad_name = f"no_such_tool_{uuid.uuid4().hex[:8]}"
    return {
        "protocol_version": client.protocol_version,
        "server_name": info.name if info else None,
        "era_facts": era_facts,
        "tools": names,
        "list_pages": pages,
        "health": {"is_error": False, "status": health["status"], "structured_matches_text": True},
        "server_info": {
            "is_error": False,
            "name": server_info["name"],
            "tool_count": server_info["tool_count"],
            "structured_matches_text": True,
        },
        "unknown_tool": {"name": bad_name, **(await unknown_tool(client, bad_name))},
    }


async def run_unknown_tool(client: Client, era: str, recorder: RecordingTransport) -> dict[str, Any]:
    await connect_era(client, era)
    # List first so a modern client has the tool list it checks calls against.
    await list_all_tools(client)
    bad_name = f"no_such_tool_{uuid.uuid4().hex[:8]}"
    try:
        result = await client.call_tool(bad_name, {"x": 1}, read_timeout_seconds=REQUEST_TIMEOUT_SECONDS)
    except MCPError as e:
        caught = e
    else:
        raise CheckFailed(f"calling unknown tool {bad_name!r} did not raise; got {result!r}")
    check(bad_name in caught.message, f"error message does not name the tool: {caught.message!r}")
    check(caught.code == types.INVALID_PARAMS, f"error code is {caught.code}, expected {types.INVALID_PARAMS}")

    request_id, answers = wire_exchange_for_call(recorder, bad_name)
    errors = [m for m in answers if "error" in m]
    check(len(errors) == 1, f"expected one JSON-RPC error answering the call, got {answers!r}")
    check(
        errors[0].get("id") == request_id,
        f"error response id {errors[0].get('id')!r} is not the request id {request_id!r}",
    )
    return {
        "protocol_version": client.protocol_version,
        "unknown_tool": {
            "name": bad_name,
            "raised": type(caught).__name__,
            "code": caught.code,
            "message": caught.message,
            "data": caught.data,
            "request_id": request_id,
            "response_id": errors[0].get("id"),
        },
    }


async def call_structured(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call `tool`, require success, and return its structured content (checked against its text)."""
    result = await client.call_tool(tool, arguments, read_timeout_seconds=REQUEST_TIMEOUT_SECONDS)
    text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
    check(not result.is_error, f"{tool} failed: {text}")
    check(result.structured_content is not None, f"{tool} returned no structured content")
    check(json.loads(text) == result.structured_content, f"{tool}: text and structured content differ")
    return result.structured_content


async def run_workspace_walk(client: Client, era: str) -> dict[str, Any]:
    await connect_era(client, era)
    tools, _ = await list_all_tools(client)
    names = [t.name for t in tools]
    for wanted in ("create_task", "create_comment", "search", "fetch", "process_task", "archive_task"):
        check(wanted in names, f"tool {wanted} missing from tools/list: {names}")
    marker = uuid.uuid4().hex[:8]
    title = f"Renew the TLS certificate {marker}"
    task = await call_structured(
        client,
        "create_task",
        {"title": title, "description": "The wildcard certificate expires on the 30th.", "priority": "high"},
    )
    comment = await call_structured(
        client, "create_comment", {"target_type": "task", "target_id": task["slug"], "body": "Use the new ACME account."}
    )
    check(comment["target_id"] == task["id"], f"comment targets {comment['target_id']}, not {task['id']}")
    hits = await call_structured(client, "search", {"query": f"wildcard {marker}"})
    check(bool(hits["results"]) and hits["results"][0]["id"] == task["id"], f"search did not find the task: {hits}")
    doc = await call_structured(client, "fetch", {"id": hits["results"][0]["id"]})
    check("expires on the 30th" in doc["text"], f"fetch text lacks the description: {doc}")
    done = await call_structured(client, "process_task", {"id": task["id"], "action": "complete"})
    check(done["status"] == "done", f"process_task complete left status {done['status']}")
    archived = await call_structured(client, "archive_task", {"id": task["id"], "version": done["version"]})
    check(archived["archived"] is True, "archive_task did not archive")
    listed = await call_structured(client, "list_tasks", {})
    check(all(t["id"] != task["id"] for t in listed["items"]), "an archived task is still in the default list")
    return {
        "protocol_version": client.protocol_version,
        "tool_count": len(names),
        "walk": {
            "task": task["id"],
            "slug": task["slug"],
            "comment": comment["id"],
            "search_hits": len(hits["results"]),
            "final_status": done["status"],
            "final_version": archived["version"],
            "archived": archived["archived"],
        },
    }


async def run_calls(client: Client, era: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    """List the tools, then make each call and check its text holds what is expected."""
    await connect_era(client, era)
    tools, _ = await list_all_tools(client)
    names = [t.name for t in tools]
    answers = []
    for call in calls:
        tool = call["tool"]
        check(tool in names, f"tool {tool} missing from tools/list: {names}")
        result = await client.call_tool(tool, call.get("arguments", {}), read_timeout_seconds=REQUEST_TIMEOUT_SECONDS)
        text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
        check(not result.is_error, f"{tool} failed: {text}")
        check(call["expect"] in text, f"{tool}: {call['expect']!r} not in {text!r}")
        answers.append({"tool": tool, "text": text[:200]})
    return {"protocol_version": client.protocol_version, "tool_count": len(names), "calls": answers}


SOAK_CALL_TIMEOUT_SECONDS = 10.0


async def run_soak(client: Client, era: str, seconds: float, recorder: RecordingTransport) -> dict[str, Any]:
    """Call tools in one session for `seconds` (see the module docs)."""
    await connect_era(client, era)
    started = time.monotonic()
    latencies: list[float] = []
    failures: list[dict[str, Any]] = []
    note_id: str | None = None
    step = 0
    while time.monotonic() - started < seconds:
        kind = step % 4
        step += 1
        if kind == 0:
            tool, arguments = "create_note", {"title": f"soak {step}", "body": "written during the soak"}
        elif kind == 1 and note_id is not None:
            tool, arguments = "get_note", {"id": note_id}
        elif kind == 2:
            tool, arguments = "list_notes", {"limit": 5}
        else:
            tool, arguments = "health", {}
        t0 = time.monotonic()
        error: str | None = None
        try:
            result = await client.call_tool(tool, arguments, read_timeout_seconds=SOAK_CALL_TIMEOUT_SECONDS)
            text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
            if result.is_error:
                error = f"isError: {text[:200]}"
            elif tool == "create_note" and result.structured_content:
                note_id = result.structured_content.get("id")
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            error = f"{type(e).__name__}: {str(e)[:200]}"
        elapsed = time.monotonic() - t0
        if error is None:
            latencies.append(elapsed)
        else:
            failures.append(
                {"at_s": round(t0 - started, 3), "ms": round(elapsed * 1000, 1), "tool": tool, "error": error}
            )
    latencies.sort()

    def percentile(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    sent_ids = {
        e["request_headers"].get("mcp-session-id")
        for e in recorder.exchanges
        if e["request_headers"].get("mcp-session-id")
    }
    return {
        "protocol_version": client.protocol_version,
        "seconds": round(time.monotonic() - started, 1),
        "calls": step,
        "ok": len(latencies),
        "failed": failures,
        "p50_ms": percentile(0.5),
        "p99_ms": percentile(0.99),
        "max_ms": percentile(1.0),
        "session_ids_used": len(sent_ids),
        "statuses": sorted({f"{e['method']} {e['status']}" for e in recorder.exchanges}),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    mode = "legacy" if args.era == "legacy" else MODERN_VERSION
    expected_version = LEGACY_VERSION if args.era == "legacy" else MODERN_VERSION
    summary: dict[str, Any] = {
        "sdk": "python:mcp",
        "sdk_version": importlib.metadata.version("mcp"),
        "transport": args.transport,
        "era": args.era,
        "scenario": args.scenario,
    }
    if args.transport == "stdio":
        with tempfile.TemporaryDirectory(prefix="mcpgate-sdk-py-", ignore_cleanup_errors=True) as data_dir:
            env = {"MCPGATE_DATA_DIR": data_dir}
            for item in args.server_env:
                key, _, value = item.partition("=")
                env[key] = value
            params = StdioServerParameters(command=args.command, args=["serve", "--transport", "stdio"], env=env)
            async with Client(
                params, mode=mode, client_info=_client_info(), read_timeout_seconds=REQUEST_TIMEOUT_SECONDS
            ) as client:
                summary.update(await run_standard(client, args.era, expected_version))
        return summary

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    if args.transport == "sse":
        async with Client(
            sse_client(args.url, headers=headers),
            mode=mode,
            client_info=_client_info(),
            read_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
        ) as client:
            summary.update(await run_standard(client, args.era, expected_version))
        return summary

    recorder = RecordingTransport()
    timeout = httpx2.Timeout(REQUEST_TIMEOUT_SECONDS, read=REQUEST_TIMEOUT_SECONDS)
    async with httpx2.AsyncClient(transport=recorder, timeout=timeout, headers=headers) as http:
        async with Client(
            streamable_http_client(args.url, http_client=http),
            mode=mode,
            client_info=_client_info(),
            read_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
        ) as client:
            if args.scenario == "unknown-tool":
                summary.update(await run_unknown_tool(client, args.era, recorder))
            elif args.scenario == "workspace-walk":
                summary.update(await run_workspace_walk(client, args.era))
            elif args.scenario == "soak":
                summary.update(await run_soak(client, args.era, args.seconds, recorder))
            elif args.scenario == "calls":
                summary.update(await run_calls(client, args.era, [json.loads(c) for c in args.call]))
            else:
                summary.update(await run_standard(client, args.era, expected_version))
        summary["http"] = http_facts(recorder)
    return summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transport", choices=["stdio", "http", "sse"], required=True)
    parser.add_argument("--era", choices=["legacy", "modern"], required=True)
    parser.add_argument("--url", help="MCP endpoint (http)")
    parser.add_argument("--command", help="mcpgate binary to spawn (stdio)")
    parser.add_argument("--token", help="bearer token for every HTTP request")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="extra env for the spawned server"
    )
    parser.add_argument(
        "--scenario", choices=["standard", "unknown-tool", "workspace-walk", "calls", "soak"], default="standard"
    )
    parser.add_argument(
        "--call",
        action="append",
        default=[],
        metavar="JSON",
        help='with --scenario calls: {"tool": ..., "arguments": {...}, "expect": "text in the answer"}',
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="with --scenario soak: how long to call")
    args = parser.parse_args(argv)
    if args.transport in ("http", "sse") and not args.url:
        parser.error("--transport http needs --url")
    if args.transport == "stdio" and not args.command:
        parser.error("--transport stdio needs --command")
    if args.scenario != "standard" and args.transport != "http":
        parser.error(f"--scenario {args.scenario} runs over http")
    return args


def leaf_errors(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, which anyio task groups wrap errors in."""
    inner = getattr(error, "exceptions", None)
    if not inner:
        return [error]
    return [leaf for e in inner for leaf in leaf_errors(e)]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    label = f"python sdk client ({args.transport}, {args.era}, {args.scenario})"
    try:
        overall = OVERALL_TIMEOUT_SECONDS + (args.seconds if args.scenario == "soak" else 0)
        summary = asyncio.run(asyncio.wait_for(main_async(args), overall))
    except BaseException as error:  # noqa: BLE001 - report anything the SDK raised, with its type
        for leaf in leaf_errors(error):
            if isinstance(leaf, CheckFailed):
                print(f"{label}: CHECK FAILED: {leaf}", file=sys.stderr)
            elif isinstance(leaf, asyncio.TimeoutError):
                print(f"{label}: gave up after {OVERALL_TIMEOUT_SECONDS:.0f}s", file=sys.stderr)
            else:
                print(f"{label}: FAILED: {type(leaf).__name__}: {leaf}", file=sys.stderr)
        return 1
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
