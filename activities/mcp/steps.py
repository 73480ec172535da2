"""The MCP activities: call one tool (the `mcp` step), list a server's tools (for agents).

Failures keep the server's name and the tool's own message but never the server's
command, URL or headers: those stay in the worker's config, out of the run's history.
"""

from __future__ import annotations

from typing import Any

from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, TextContent
from temporalio import activity

from activities._failures import classified
from activities._heartbeat import heartbeating
from activities.mcp.pool import McpPool
from interpreter.contract import ACTIVITY_MCP, ACTIVITY_MCP_LIST_TOOLS, StepOutcome
from interpreter.errors import ERROR_MCP_TOOL, OrchestratorError, ProviderError, StepError
from interpreter.steps.mcp import McpRequest, McpToolInfo, McpTools, McpToolsRequest

__all__ = ["McpActivities", "tool_output"]

_RETRYABLE_CODES = frozenset({CONNECTION_CLOSED, REQUEST_TIMEOUT})


def tool_output(result: CallToolResult) -> Any:
    """A tool result as a step output: its structured content, else its text.

    One text block is a string, several a list; other blocks (images, resources)
    are kept as their JSON form.
    """
    if result.structured_content is not None:
        return result.structured_content
    blocks = [
        block.text
        if isinstance(block, TextContent)
        else block.model_dump(mode="json", by_alias=True, exclude_none=True)
        for block in result.content
    ]
    return blocks[0] if len(blocks) == 1 else blocks


def _error_text(result: CallToolResult) -> str:
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    return " ".join(texts).strip() or "(no message)"


class McpActivities:
    """The worker's MCP activities over its pool of sessions."""

    def __init__(self, pool: McpPool) -> None:
        self._pool = pool

    @activity.defn(name=ACTIVITY_MCP)
    @classified
    async def call(self, request: McpRequest) -> StepOutcome:
        step = request.step
        async with heartbeating(), self._connected(step.server, step.id) as session:
            known = await self._tool_names(step.server)
            if step.tool not in known:
                known = await self._tool_names(step.server, refresh=True)
            if step.tool not in known:
                raise StepError(
                    step.id,
                    f"MCP server `{step.server}` has no tool `{step.tool}` "
                    f"(its tools: {', '.join(sorted(known)) or 'none'})",
                )
            result = await session.call_tool(step.tool, step.arguments)
        assert isinstance(result, CallToolResult)
        if result.is_error:
            raise StepError(
                step.id,
                f"MCP tool `{step.server}/{step.tool}` failed: {_error_text(result)}",
                error_type=ERROR_MCP_TOOL,
            )
        return StepOutcome(output=tool_output(result), attempt=activity.info().attempt)

    @activity.defn(name=ACTIVITY_MCP_LIST_TOOLS)
    @classified
    async def list_tools(self, request: McpToolsRequest) -> McpTools:
        async with heartbeating(), self._connected(request.server, None):
            tools = await self._pool.tools(request.server)
        return McpTools(
            server=request.server,
            tools=[
                McpToolInfo(name=t.name, description=t.description, input_schema=t.input_schema)
                for t in tools
            ],
        )

    async def _tool_names(self, server: str, *, refresh: bool = False) -> set[str]:
        return {tool.name for tool in await self._pool.tools(server, refresh=refresh)}

    def _connected(self, server: str, step_id: str | None) -> _Connected:
        return _Connected(self._pool, server, step_id)


class _Connected:
    """``async with``: the server's session; failures of the connection become step errors.

    A connection that failed is discarded, so the retry starts the server afresh.
    """

    def __init__(self, pool: McpPool, server: str, step_id: str | None) -> None:
        self._pool = pool
        self._server = server
        self._step_id = step_id or f"mcp:{server}"
        self._session: ClientSession | None = None

    async def __aenter__(self) -> ClientSession:
        try:
            self._session = await self._pool.session(self._server)
        except OrchestratorError as exc:
            # an unknown server name, a `${NAME}` that is not set: the worker's config decides
            raise StepError(self._step_id, str(exc)) from None
        except Exception as exc:
            raise await self._lost(exc) from None
        return self._session

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, StepError | ProviderError):
            return
        if isinstance(exc, MCPError) and exc.code not in _RETRYABLE_CODES:
            # the server understood and refused (invalid params, ...): trying again won't help
            raise ProviderError(
                f"MCP server `{self._server}` answered error {exc.code}: {exc.message}",
                provider=f"mcp:{self._server}",
                retryable=False,
            ) from None
        if isinstance(exc, Exception):
            raise await self._lost(exc) from None

    async def _lost(self, exc: Exception) -> ProviderError:
        """The connection failed: forget it (the retry reconnects) and say why, without the
        server's address or command."""
        activity.logger.warning("MCP server %s: connection failed", self._server, exc_info=exc)
        if self._session is not None:
            await self._pool.discard(self._server, self._session)
            self._session = None
        return ProviderError(
            f"MCP server `{self._server}`: connection failed ({self._reason(exc)}); "
            "the worker reconnects on the next attempt",
            provider=f"mcp:{self._server}",
            retryable=True,
        )

    def _reason(self, exc: BaseException) -> str:
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        text = exc.message if isinstance(exc, MCPError) else f"{type(exc).__name__}: {exc}"
        settings = self._pool.settings(self._server)
        for secret in (settings.url, settings.command, *settings.headers.values()):
            if secret:
                text = text.replace(secret, "<configured>")
        return text[:300]
