#!/usr/bin/env python3
"""Drive an mcpgate that requires a bearer token with the official MCP Python SDK over Streamable HTTP.

The token comes from the environment variable MCPGATE_SDK_BEARER_TOKEN, never from the command line,
so it does not show in process listings. When the variable is set, every request carries
`Authorization: Bearer <token>` (set as a default header on the HTTP client handed to the SDK's
transport); when it is unset or empty, no Authorization header is sent.

    MCPGATE_SDK_BEARER_TOKEN=... auth_walk.py --url http://localhost:PORT/mcp --era legacy --expect accepted
    auth_walk.py --url http://localhost:PORT/mcp --era modern --expect refused

`--expect accepted`: connect in the requested era, list the tools (following nextCursor), call
`health` and check it is not an error and reports `ok`; with `--create-task`, also create a task and
report who the server says created it (`created_by`), which shows which caller the token made.

`--expect refused`: the connection must fail, and the server must have answered 401 with a
`WWW-Authenticate: Bearer ...` challenge. Succeeding at anything is a failure.

Either way the script prints ONE JSON summary line and exits 0; any mismatch exits non-zero with
`CHECK FAILED` and a message on stderr. The summary never contains the token: it only says whether
an Authorization header was sent.

Eras: `legacy` is the `initialize` handshake (2025-11-25); `modern` is the stateless 2026-07-28
protocol, pinned, and confirmed with a `server/discover` round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import sys
import uuid
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

TOKEN_VARIABLE = "MCPGATE_SDK_BEARER_TOKEN"
LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
# Give up well before the test harness kills us, so the failure says where it hung.
OVERALL_TIMEOUT_SECONDS = 45.0
REQUEST_TIMEOUT_SECONDS = 20.0
MAX_PAGES = 100


class CheckFailed(Exception):
    """A result did not match what the server promises."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes every request through unchanged and keeps the facts the summary reports: method,
    status, the challenge of a refusal, whether an Authorization header went out (never its
    value), and the session ids sent and answered."""

    def __init__(self) -> None:
        self._inner = httpx2.AsyncHTTPTransport()
        self.exchanges: list[dict[str, Any]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        self.exchanges.append(
            {
                "method": request.method,
                "status": response.status_code,
                "authorization_sent": "authorization" in request.headers,
                "www_authenticate": response.headers.get("www-authenticate"),
                "request_session_id": request.headers.get("mcp-session-id"),
                "response_session_id": response.headers.get("mcp-session-id"),
            }
        )
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    def facts(self) -> dict[str, Any]:
        return {
            "requests": [f"{e['method']} {e['status']}" for e in self.exchanges],
            "authorization_sent": [e["authorization_sent"] for e in self.exchanges],
            "challenges": [e["www_authenticate"] for e in self.exchanges if e["www_authenticate"] is not None],
            **self.session_facts(),
        }

    def session_facts(self) -> dict[str, Any]:
        """The `Mcp-Session-Id` the server assigned first (None if none; a session id is not a
        credential) and whether every later request carried it back."""
        assigned: str | None = None
        later: list[str | None] = []
        for e in self.exchanges:
            if assigned is None:
                assigned = e["response_session_id"]
            else:
                later.append(e["request_session_id"])
        return {
            "session_id": assigned,
            "session_id_echoed": assigned is not None and bool(later) and all(s == assigned for s in later),
        }


def _client_info() -> types.Implementation:
    return types.Implementation(name="mcpgate-sdk-auth-test-python", version=importlib.metadata.version("mcp"))


async def connect_era(client: Client, era: str) -> None:
    """Finish the era-specific part of the connection."""
    if era == "legacy":
        check(client.session.initialize_result is not None, "legacy connect did not run the initialize handshake")
        return
    raw = await client.session.send_discover(MODERN_VERSION)
    discovered = types.DiscoverResult.model_validate(raw)
    check(
        MODERN_VERSION in discovered.supported_versions,
        f"server/discover does not offer {MODERN_VERSION}: {discovered.supported_versions}",
    )
    client.session.adopt(discovered)


async def list_all_tools(client: Client) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        names.extend(t.name for t in page.tools)
        cursor = page.next_cursor
        if not cursor:
            return names
    raise CheckFailed(f"tools/list did not end after {MAX_PAGES} pages")


async def call_structured(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call `tool`, require success, and return its structured content."""
    result = await client.call_tool(tool, arguments, read_timeout_seconds=REQUEST_TIMEOUT_SECONDS)
    text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
    check(result.is_error is not True, f"{tool}: isError is {result.is_error!r}: {text}")
    check(isinstance(result.structured_content, dict), f"{tool}: no structuredContent object")
    return result.structured_content


async def run_accepted(client: Client, args: argparse.Namespace, expected_version: str) -> dict[str, Any]:
    await connect_era(client, args.era)
    check(
        client.protocol_version == expected_version,
        f"negotiated protocol version is {client.protocol_version!r}, expected {expected_version!r}",
    )
    tools = await list_all_tools(client)
    check("health" in tools, f"tool 'health' missing from tools/list: {tools}")
    health = await call_structured(client, "health", {})
    check(health.get("status") == "ok", f"health status is {health.get('status')!r}: {health!r}")
    summary: dict[str, Any] = {
        "protocol_version": client.protocol_version,
        "tools": tools,
        "health": {"is_error": False, "status": health["status"]},
    }
    if args.create_task:
        check("create_task" in tools, f"tool 'create_task' missing from tools/list: {tools}")
        task = await call_structured(
            client, "create_task", {"title": f"Rotate the signing key {uuid.uuid4().hex[:8]}"}
        )
        summary["task"] = {"id": task.get("id"), "created_by": task.get("created_by")}
    return summary


def leaf_errors(error: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, which anyio task groups wrap errors in."""
    inner = getattr(error, "exceptions", None)
    if not inner:
        return [error]
    return [leaf for e in inner for leaf in leaf_errors(e)]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    mode = "legacy" if args.era == "legacy" else MODERN_VERSION
    expected_version = LEGACY_VERSION if args.era == "legacy" else MODERN_VERSION
    token = os.environ.get(TOKEN_VARIABLE, "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    summary: dict[str, Any] = {
        "sdk": "python:mcp",
        "sdk_version": importlib.metadata.version("mcp"),
        "era": args.era,
        "expect": args.expect,
        "token_given": bool(token),
    }
    recorder = RecordingTransport()
    timeout = httpx2.Timeout(REQUEST_TIMEOUT_SECONDS, read=REQUEST_TIMEOUT_SECONDS)
    async with httpx2.AsyncClient(transport=recorder, timeout=timeout, headers=headers) as http:
        try:
            async with Client(
                streamable_http_client(args.url, http_client=http),
                mode=mode,
                client_info=_client_info(),
                read_timeout_seconds=REQUEST_TIMEOUT_SECONDS,
            ) as client:
                outcome = await run_accepted(client, args, expected_version)
        except Exception as error:  # noqa: BLE001 - a refusal may surface as any SDK error
            leaves = leaf_errors(error)
            if any(isinstance(leaf, CheckFailed) for leaf in leaves):
                raise
            failure = leaves[0]
            if args.expect == "accepted":
                raise CheckFailed(
                    f"the connection failed ({type(failure).__name__}: {failure}); "
                    f"HTTP exchanges: {recorder.facts()['requests']}"
                ) from error
            summary["outcome"] = "refused"
            summary["raised"] = type(failure).__name__
            summary["message"] = str(failure)
        else:
            check(
                args.expect == "accepted",
                f"the server served a client it should have refused: listed {outcome['tools']}",
            )
            summary["outcome"] = "accepted"
            summary.update(outcome)
    summary["http"] = recorder.facts()
    statuses = [e["status"] for e in recorder.exchanges]
    if args.expect == "accepted":
        check(
            all(status < 400 for status in statuses),
            f"a request failed: {summary['http']['requests']}",
        )
    else:
        check(statuses and statuses[0] == 401, f"the first request was not refused with 401: {statuses}")
        challenge = recorder.exchanges[0]["www_authenticate"] or ""
        check(challenge.startswith("Bearer"), f"the 401 carries no Bearer challenge: {challenge!r}")
    return summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="MCP endpoint")
    parser.add_argument("--era", choices=["legacy", "modern"], required=True)
    parser.add_argument("--expect", choices=["accepted", "refused"], required=True)
    parser.add_argument("--create-task", action="store_true", help="create a task and report created_by")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    label = f"python sdk auth client ({args.era}, expect {args.expect})"
    try:
        summary = asyncio.run(asyncio.wait_for(main_async(args), OVERALL_TIMEOUT_SECONDS))
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
