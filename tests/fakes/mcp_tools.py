"""A small MCP server (the `mcp` SDK's MCPServer) with tools that misbehave on purpose.

Run over stdio as ``python -m tests.fakes.mcp_tools STATE_DIR``, or served over
Streamable HTTP by :func:`serve_http` on a loopback port. ``STATE_DIR`` counts calls
across server processes, so a test can see a restarted server and a retried call.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

LONG_NAME = "summarise_the_quarterly_ledger_for_the_finance_team_and_its_auditors"
"""A tool name of 68 characters: models accept at most 64."""


def build(state: Path) -> MCPServer:
    server = MCPServer("misbehaving")

    def _count(name: str) -> int:
        path = state / name
        count = int(path.read_text()) + 1 if path.exists() else 1
        path.write_text(str(count))
        return count

    @server.tool(description="Echo the text back, with this server process's id.")
    def echo(text: str) -> dict[str, object]:
        return {"text": text, "pid": os.getpid()}

    @server.tool(description="Count a call under `key` (across processes); the count so far.")
    def tally(key: str) -> dict[str, object]:
        return {"key": key, "count": _count(f"tally-{key}")}

    @server.tool(description="Exit the server process at once, without answering.")
    def exit_now() -> str:
        os._exit(3)

    @server.tool(description="Never answer the first call; answer later ones.")
    async def hang_once(text: str) -> str:
        if _count("hang_once") == 1:
            await asyncio.sleep(3600)
        return f"answered {text}"

    @server.tool(description="Always fail with a message.")
    def refuse(reason: str) -> str:
        raise ToolError(f"refused: {reason}")

    # names a model cannot call (a dot; more than 64 characters), and one that is the
    # first made safe for models: an agent offers them renamed, and must not mix them up
    @server.tool(name="files.read", description="Read a file (a dotted name).")
    def files_dot_read(path: str) -> dict[str, object]:
        return {"tool": "files.read", "path": path, "text": f"contents of {path}"}

    @server.tool(name="files_read", description="Read a file (the dotted one, made safe).")
    def files_read(path: str) -> dict[str, object]:
        return {"tool": "files_read", "path": path}

    @server.tool(name=LONG_NAME, description="A tool whose name is longer than 64 characters.")
    def long_named(period: str) -> dict[str, object]:
        return {"tool": LONG_NAME, "period": period}

    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve_http(state: Path) -> AsyncIterator[str]:
    """Serve the tools over Streamable HTTP on 127.0.0.1; yields the endpoint URL."""
    import uvicorn

    port = free_port()
    app = build(state).streamable_http_app(host="127.0.0.1")
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        await task


if __name__ == "__main__":
    build(Path(sys.argv[1])).run("stdio")
