#!/usr/bin/env python3
"""A small MCP server written with the official Python SDK's high-level server (`MCPServer`, the
FastMCP of mcp 1.x), for the gateway to federate as an upstream nobody here wrote the protocol
side of. Serves over stdio by default, or Streamable HTTP with `--http PORT`.

Tools: `add(a, b)` and `shout(text)`; a resource `notes://readme`; a prompt `review(topic)`.
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("py-upstream")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper() + "!"


@server.resource("notes://readme")
def readme() -> str:
    """The notes' readme."""
    return "Python upstream notes."


@server.prompt()
def review(topic: str) -> str:
    """Ask for a review of a topic."""
    return f"Please review {topic}."


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
