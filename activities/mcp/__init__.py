"""MCP on the worker: a pool of sessions to the configured servers, and the activities
that call their tools (``mcp`` steps) and list them (for ``agent`` steps)."""

from activities.mcp.pool import McpPool, UnknownServer
from activities.mcp.steps import McpActivities, tool_output

__all__ = ["McpActivities", "McpPool", "UnknownServer", "tool_output"]
