"""An `agent` step's conversation as it crosses the workflow/activity boundary.

The workflow keeps the conversation in one neutral shape (:class:`AgentMessage`):
a user message, assistant turns that may ask for tool calls, and tool results.
Each model turn is one activity (``step_agent_turn``) that receives the whole
conversation so far plus the tools the model may call (:class:`AgentTurnRequest`)
and answers either a final text or tool calls (:class:`AgentTurn`). Providers map
the neutral shape to their wire format (OpenAI ``tools``/``tool_calls``/``role:
tool``; Anthropic ``tools``/``tool_use``/``tool_result``); the workflow never sees
a vendor's format, so the transcript reads the same whichever model answered.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from interpreter.contract import CacheUse, Usage
from interpreter.payload import Payload
from interpreter.steps._kind import StepCall

__all__ = [
    "AgentMessage",
    "AgentTurn",
    "AgentTurnCall",
    "AgentTurnRequest",
    "MockToolCall",
    "MockTurn",
    "ToolCall",
    "ToolSpec",
]


class ToolSpec(Payload):
    """A tool as the model sees it: a name, what it does, its JSON-Schema parameters."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class ToolCall(Payload):
    """One tool call a model asked for."""

    id: str
    """The vendor's call id (OpenAI ``call_…``, Anthropic ``toolu_…``), echoed with the result."""
    name: str
    arguments: str
    """The arguments exactly as the model wrote them: JSON text, which may be invalid (the
    workflow parses and checks it against the tool's schema before anything runs)."""


class AgentMessage(Payload):
    """One message of the conversation, vendor-neutral."""

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """An assistant turn's tool calls (several run concurrently)."""
    tool_call_id: str | None = None
    """A tool result: the call it answers."""
    name: str | None = None
    """A tool result: the tool's name."""
    is_error: bool = False
    """A tool result that is an error (unknown tool, bad arguments, the tool failed)."""


class MockToolCall(Payload):
    """A scripted tool call of a ``mock_turns`` entry."""

    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    """A mapping, or raw text (to script a model that writes invalid JSON)."""


class MockTurn(Payload):
    """One scripted assistant turn for the offline provider: a final ``text``, or
    ``tool_calls``."""

    text: str | dict[str, Any] | list[Any] | None = None
    tool_calls: list[MockToolCall] = Field(default_factory=list)


class AgentTurnCall(StepCall):
    """What one model turn of an `agent` step receives: the conversation so far."""

    provider: str
    model: str
    turn: int
    """1-based: the offline provider plays ``mock_turns[turn - 1]``."""
    system: str | None = None
    messages: list[AgentMessage] = Field(default_factory=list)
    tools: list[ToolSpec] = Field(default_factory=list)
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stream: bool = False
    response_format: Any = "text"
    """``text``, ``json`` or an ``interpreter.steps.llm.ResponseSchema`` (as a mapping)."""
    extra: dict[str, Any] = Field(default_factory=dict)
    mock_turns: list[MockTurn] = Field(default_factory=list)
    cache: CacheUse | None = None
    """The step cache: a turn is keyed by the whole conversation so far (docs/cache.md)."""


class AgentTurnRequest(Payload):
    step: AgentTurnCall
    offline: bool = False


class AgentTurn(Payload):
    """A model turn's answer: tool calls to make, or (none asked) the final ``text``."""

    text: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    model: str = ""
    finish_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    attempt: int = 1
