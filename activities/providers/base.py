"""The provider interfaces every model backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from interpreter.conversation import AgentTurnCall, ToolCall
from interpreter.steps.llm import LlmCall


@dataclass(frozen=True)
class ChatReply:
    """A model's answer, with what the vendor reported about it."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)
    """The tool calls of an agent turn, in the order the model wrote them (``[]``: a
    final answer in ``text``)."""


@dataclass(frozen=True)
class Embeddings:
    vectors: list[list[float]]
    model: str
    input_tokens: int = 0


class ChatProvider(Protocol):
    """Something that answers an `llm` step (rendered, defaults applied)."""

    name: str

    async def complete(self, step: LlmCall) -> ChatReply: ...


class AgentProvider(Protocol):
    """Something that plays one model turn of an `agent` step: the conversation so far
    and the tools it may call in, a final text or tool calls out."""

    name: str

    async def complete_turn(self, call: AgentTurnCall) -> ChatReply: ...


class EmbeddingProvider(Protocol):
    """Something that turns texts into vectors."""

    name: str

    async def embed(
        self, texts: list[str], *, model: str, dimensions: int | None, pooling: str | None = None
    ) -> Embeddings:
        """Vectors for ``texts``; ``pooling`` (``mean``) pools per-token vectors into one."""
        ...
