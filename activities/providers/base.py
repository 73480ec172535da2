"""The provider interfaces every model backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from interpreter.conversation import AgentTurnCall, ToolCall
from interpreter.steps.llm import LlmCall, ResponseSchema

ResponseFormat = Literal["text", "json"] | ResponseSchema


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
    """Something that answers an `llm` step (rendered, defaults applied) and plays the
    model turns of an `agent` step."""

    name: str

    async def complete(self, step: LlmCall) -> ChatReply: ...

    async def complete_turn(self, call: AgentTurnCall) -> ChatReply:
        """One turn: the conversation so far and the tools the model may call in; a
        final ``text`` or ``tool_calls`` out."""
        ...


class EmbeddingProvider(Protocol):
    """Something that turns texts into vectors."""

    name: str

    async def embed(
        self, texts: list[str], *, model: str, dimensions: int | None, pooling: str | None = None
    ) -> Embeddings:
        """Vectors for ``texts``; ``pooling`` (``mean``) pools per-token vectors into one."""
        ...


def turn_response_format(call: AgentTurnCall) -> ResponseFormat:
    """An agent turn's ``response_format`` as the `llm` step types it (the payload carries
    a schema as a plain mapping, so the conversation contract need not import the `llm`
    step's models)."""
    value = call.response_format
    if value in ("text", "json"):
        return "json" if value == "json" else "text"
    if value is None:
        return "text"
    return ResponseSchema.model_validate(value)
