"""One MCP client session per configured server, shared by every step on the worker.

A session is opened on first use and kept: starting a stdio server (a process) or
a Streamable HTTP session per call would cost more than most tool calls. Each one
is held open by a task of its own (the SDK's sessions live inside anyio task
groups, which must be entered and left by one task); steps send requests over it
from their own tasks. When a stdio server's process exits, its output ends and the
session's dispatcher stops: the pool sees that and starts a fresh process on the
next use. A call that fails because the connection went away discards the session
and is retried by the step's retry policy, on a new one.

Tool lists are cached per server for ``tools_ttl`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

import anyio
import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.jsonrpc_dispatcher import JSONRPCDispatcher
from mcp_types import CallToolResult, PaginatedRequestParams, Tool

from activities.providers.config import McpServerSettings, WorkerConfig, expand_secrets
from interpreter.errors import OrchestratorError

__all__ = ["McpPool", "UnknownServer"]

_CONNECT_TIMEOUT = 60.0
"""Seconds to start a server and finish the MCP handshake (a stdio server may install)."""


_CLOSE_TIMEOUT = 10.0
"""Seconds to let a session end politely (the SDK then terminates a stdio server)."""


class UnknownServer(OrchestratorError):
    """A step named a server the worker's config does not have."""


class _WatchedDispatcher(JSONRPCDispatcher[Any]):
    """The SDK's dispatcher, telling us when its receive loop ends (the server went away)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ended = anyio.Event()

    async def run(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().run(*args, **kwargs)
        finally:
            self.ended.set()


class _Connection:
    """One open session, held by its own task until :meth:`close` or the server leaves."""

    def __init__(
        self,
        name: str,
        settings: McpServerSettings,
        config: WorkerConfig | None,
        env: Mapping[str, str] | None,
    ) -> None:
        self._name = name
        self._settings = settings
        self._config = config
        self._env = env
        self._stop = asyncio.Event()
        self._dispatcher: _WatchedDispatcher | None = None
        self._task: asyncio.Task[None] | None = None
        self.session: ClientSession | None = None

    @property
    def alive(self) -> bool:
        return (
            self.session is not None
            and self._dispatcher is not None
            and not self._dispatcher.ended.is_set()
            and self._task is not None
            and not self._task.done()
        )

    async def open(self) -> ClientSession:
        ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(ready), name=f"mcp server {self._name}")
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                self.session = await asyncio.shield(ready)
        except TimeoutError:
            await self.close()
            raise ConnectionError(f"no MCP handshake within {_CONNECT_TIMEOUT:.0f} s") from None
        except BaseException:
            await self.close()
            raise
        return self.session

    async def close(self) -> None:
        """Stop holding the session and wait (bounded) until its server is stopped."""
        self._stop.set()
        task = self._task
        if task is None:
            return
        if self.session is None:
            task.cancel()  # still connecting: a server that never answers must not hold us
        done, _ = await asyncio.wait([task], timeout=_CLOSE_TIMEOUT)
        if not done:
            task.cancel()
            await asyncio.wait([task], timeout=_CLOSE_TIMEOUT)

    async def _hold(self, ready: asyncio.Future[ClientSession]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(stack))
                self._dispatcher = _WatchedDispatcher(read, write)
                session = await stack.enter_async_context(
                    ClientSession(dispatcher=self._dispatcher)
                )
                await session.initialize()
                ready.set_result(session)
                stop = asyncio.create_task(self._stop.wait())
                ended = asyncio.create_task(_wait_anyio(self._dispatcher.ended))
                try:
                    await asyncio.wait([stop, ended], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                    ended.cancel()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(
                    exc if isinstance(exc, Exception) else ConnectionError(str(exc))
                )
            if not isinstance(exc, Exception):
                raise

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        s = self._settings
        if s.command is not None:
            params = StdioServerParameters(
                command=s.command,
                args=list(s.args),
                env={k: expand_secrets(v, self._config, self._env) for k, v in s.env.items()},
                cwd=s.cwd,
            )
            return stdio_client(params, errlog=_errlog())
        assert s.url is not None
        headers = {k: expand_secrets(v, self._config, self._env) for k, v in s.headers.items()}
        client = httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30.0, read=300.0), follow_redirects=False
        )
        stack.push_async_callback(client.aclose)
        return streamable_http_client(s.url, http_client=client)


async def _wait_anyio(event: anyio.Event) -> None:
    await event.wait()


def _errlog() -> TextIO:
    """Where a stdio server's stderr goes: ours, when it is a real file (not under capture)."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return open(os.devnull, "w")
    return sys.stderr


class McpPool:
    """The worker's MCP sessions by server name, and their cached tool lists."""

    def __init__(
        self,
        servers: Mapping[str, McpServerSettings],
        *,
        config: WorkerConfig | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env`` resolves ``${NAME}`` in headers and server environments (default: ours)."""
        self._servers = dict(servers)
        self._config = config
        self._env = env
        self._connections: dict[str, _Connection] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tools: dict[str, tuple[float, list[Tool]]] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._servers)

    def settings(self, name: str) -> McpServerSettings:
        settings = self._servers.get(name)
        if settings is None:
            configured = ", ".join(f"`{n}`" for n in self.names) or "none"
            raise UnknownServer(
                f"no MCP server `{name}` is configured on this worker (configured: {configured}; "
                "add it under `mcp_servers:` in the worker config file)"
            )
        return settings

    async def session(self, name: str) -> ClientSession:
        """The server's open session: the pooled one, or a new one if it is gone."""
        settings = self.settings(name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            current = self._connections.get(name)
            if current is not None and current.alive:
                assert current.session is not None
                return current.session
            if current is not None:
                await current.close()
                self._tools.pop(name, None)
            connection = _Connection(name, settings, self._config, self._env)
            session = await connection.open()
            self._connections[name] = connection
            return session

    async def discard(self, name: str, session: ClientSession) -> None:
        """Close ``session`` if it is still the pooled one: its connection failed."""
        connection = self._connections.get(name)
        if connection is not None and connection.session is session:
            del self._connections[name]
            self._tools.pop(name, None)
            await connection.close()

    async def tools(self, name: str, *, refresh: bool = False) -> list[Tool]:
        """The server's tools, cached for its ``tools_ttl``."""
        ttl = self.settings(name).tools_ttl
        cached = self._tools.get(name)
        if cached is not None and not refresh and time.monotonic() - cached[0] < ttl:
            return cached[1]
        session = await self.session(name)
        tools: list[Tool] = []
        cursor: str | None = None
        while True:
            page = await session.list_tools(
                params=PaginatedRequestParams(cursor=cursor) if cursor else None
            )
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        self._tools[name] = (time.monotonic(), tools)
        return tools

    async def call(self, name: str, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        session = await self.session(name)
        result = await session.call_tool(tool, arguments)
        assert isinstance(result, CallToolResult)
        return result

    async def aclose(self) -> None:
        connections, self._connections = self._connections, {}
        for connection in connections.values():
            await connection.close()
