"""OpenAI chat completions and embeddings, and any server that speaks them
(Azure OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, ...)."""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity

from activities.live_tokens import text_arrived
from activities.providers.base import (
    ChatReply,
    Embeddings,
    ResponseFormat,
    turn_response_format,
)
from activities.providers.estimate import conversation_text, estimate_tokens, prompt_text
from activities.providers.http import WHOLE_REPLY, HttpEndpoint
from interpreter.conversation import AgentMessage, AgentTurnCall, ToolCall
from interpreter.steps.llm import LlmCall, ResponseSchema

__all__ = ["OpenAIProvider"]

_REFUSAL_CODES = {"content_filter", "content_policy_violation"}


def _call_timeout() -> float:
    """Leave the activity a second to report a clean, retryable timeout itself."""
    if activity.in_activity():
        timeout = activity.info().start_to_close_timeout
        if timeout is not None:
            return max(1.0, timeout.total_seconds() - 1.0)
    return 600.0


def _estimate_tokens(step: LlmCall) -> int:
    """Tokens a call may spend, for the tokens-per-minute limit: prompt plus the reply's cap."""
    return estimate_tokens(prompt_text(step)) + (step.max_tokens or 256)


def _options(model: str, source: LlmCall | AgentTurnCall, fmt: ResponseFormat) -> dict[str, Any]:
    """The body's model, sampling settings and ``response_format``, for `llm` steps and
    agent turns alike."""
    body: dict[str, Any] = {"model": model}
    for name in ("temperature", "max_tokens", "top_p"):
        value = getattr(source, name)
        if value is not None:
            body[name] = value
    if fmt == "json":
        body["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, ResponseSchema):
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": fmt.name, "schema": fmt.json_schema, "strict": False},
        }
    return body


def _turn_message(message: AgentMessage) -> dict[str, Any]:
    """A neutral conversation message in OpenAI's shape (a tool result: ``role: tool``)."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            # OpenAI wants null, not "", beside tool calls; some compatible servers reject ""
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _arguments(value: Any) -> str:
    """A tool call's arguments as text: servers send a JSON string, a few send an object."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


class _StreamedCalls:
    """Tool calls assembled from streamed deltas: the first fragment of call ``index``
    carries its id and name, the following ones pieces of its arguments. A server that
    sends whole calls without ``index`` (some OpenAI-compatible ones) starts a new call
    with each new id."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[str, str, list[str]]] = {}

    def _index(self, fragment: dict[str, Any]) -> int:
        if fragment.get("index") is not None:
            return int(fragment["index"])
        last = max(self._calls, default=-1)
        fresh = fragment.get("id") and (last < 0 or self._calls[last][0] != fragment["id"])
        return last + 1 if fresh or last < 0 else last

    def add(self, fragment: dict[str, Any]) -> None:
        index = self._index(fragment)
        call_id, name, arguments = self._calls.get(index, ("", "", []))
        function = fragment.get("function") or {}
        self._calls[index] = (
            call_id or str(fragment.get("id") or ""),
            name or str(function.get("name") or ""),
            arguments,
        )
        if function.get("arguments"):
            arguments.append(_arguments(function["arguments"]))

    def done(self) -> list[ToolCall]:
        return [
            ToolCall(id=call_id, name=name, arguments="".join(arguments))
            for _, (call_id, name, arguments) in sorted(self._calls.items())
        ]


def chat_messages(step: LlmCall) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": step.system}] if step.system else []
    messages += [{"role": m.role, "content": m.content} for m in step.messages]
    if step.prompt is not None:
        messages.append({"role": "user", "content": step.prompt})
    return messages


class OpenAIProvider:
    """Chat and embeddings over the OpenAI wire format."""

    def __init__(self, endpoint: HttpEndpoint) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name

    def _headers(self) -> dict[str, str]:
        headers = dict(self.endpoint.settings.headers)
        key = self.endpoint._key
        if key:
            style = self.endpoint.settings.key_header or "authorization"
            headers["api-key" if style == "api-key" else style] = (
                f"Bearer {key}" if style == "authorization" else key
            )
        return headers

    def _body(self, step: LlmCall) -> dict[str, Any]:
        body = _options(step.model, step, step.response_format)
        body["messages"] = chat_messages(step)
        if step.stop:
            body["stop"] = step.stop
        body.update(step.extra)
        return body

    def _turn_body(self, call: AgentTurnCall) -> dict[str, Any]:
        """An agent turn: the conversation in OpenAI's shape, the tools as ``function``s."""
        body = _options(call.model, call, turn_response_format(call))
        messages = [{"role": "system", "content": call.system}] if call.system else []
        body["messages"] = messages + [_turn_message(m) for m in call.messages]
        if call.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in call.tools
            ]
        body.update(call.extra)
        return body

    async def complete(self, step: LlmCall) -> ChatReply:
        return await self._chat(
            self._body(step),
            model=step.model,
            stream=step.stream,
            estimated_tokens=_estimate_tokens(step),
        )

    async def complete_turn(self, call: AgentTurnCall) -> ChatReply:
        """One model turn of an `agent` step: a final text, or the tool calls it asks for."""
        return await self._chat(
            self._turn_body(call),
            model=call.model,
            stream=call.stream,
            estimated_tokens=estimate_tokens(conversation_text(call)) + (call.max_tokens or 256),
        )

    async def _chat(
        self, body: dict[str, Any], *, model: str, stream: bool, estimated_tokens: int
    ) -> ChatReply:
        if stream:
            return await self._stream(model, body, estimated_tokens)
        data = await self.endpoint.post_json(
            "chat/completions",
            body,
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=estimated_tokens,
        )
        return self._reply(model, data)

    def _reply(self, model: str, data: dict[str, Any]) -> ChatReply:
        """A whole (not streamed) chat completion."""
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content") or ""
            finish = choice.get("finish_reason")
            calls = [
                ToolCall(
                    id=str(c.get("id") or ""),
                    name=str(c["function"]["name"]),
                    arguments=_arguments(c["function"].get("arguments")),
                )
                for c in message.get("tool_calls") or []
            ]
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self.endpoint.error(
                f"{self.name}: the reply has no choices[0].message (or a tool call without "
                f"a function name): {json.dumps(data)[:200]}"
            ) from None
        self._refusal(finish, message.get("refusal"))
        usage = data.get("usage") or {}
        return ChatReply(
            text=text,
            model=str(data.get("model") or model),
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=finish,
            metadata={"id": data.get("id"), "usage": usage, "provider": self.name},
            tool_calls=calls,
        )

    def _refusal(self, finish: str | None, refusal: str | None) -> None:
        if finish in _REFUSAL_CODES or refusal:
            raise self.endpoint.error(
                f"{self.name} refused the request: {refusal or finish}", retryable=False
            )

    async def _stream(self, model: str, body: dict[str, Any], estimated_tokens: int) -> ChatReply:
        body = {**body, "stream": True}
        if self.endpoint.settings.stream_usage:
            body["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        calls = _StreamedCalls()
        usage: dict[str, Any] = {}
        finish: str | None = None
        asked = model
        done = False
        async for event, data in self.endpoint.stream_sse(
            "chat/completions",
            body,
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=estimated_tokens,
        ):
            if event == WHOLE_REPLY:
                return self._reply(asked, json.loads(data))
            if data.strip() == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                raise self.endpoint.stream_broken(
                    f"unreadable stream chunk: {data[:120]!r}"
                ) from None
            if chunk.get("error"):
                raise self.endpoint.stream_broken(f"error in stream: {chunk['error']}")
            model = str(chunk.get("model") or model)
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    parts.append(delta["content"])
                    text_arrived(delta["content"])
                for fragment in delta.get("tool_calls") or []:
                    calls.add(fragment)
                finish = choice.get("finish_reason") or finish
            if chunk.get("usage"):
                usage = chunk["usage"]
            if activity.in_activity():
                activity.heartbeat(len(parts))
        if not done:
            raise self.endpoint.stream_broken("the stream ended before [DONE]; retrying")
        self.endpoint.stream_ok()
        self._refusal(finish, None)
        return ChatReply(
            text="".join(parts),
            model=model,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=finish,
            metadata={"usage": usage, "provider": self.name, "streamed": True},
            tool_calls=calls.done(),
        )

    async def embed(
        self, texts: list[str], *, model: str, dimensions: int | None, pooling: str | None = None
    ) -> Embeddings:
        body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
        if dimensions:
            body["dimensions"] = dimensions
        data = await self.endpoint.post_json(
            "embeddings",
            body,
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=sum(len(t) for t in texts) // 4,
        )
        pooling = pooling or self.endpoint.settings.pooling
        try:
            rows = sorted(data["data"], key=lambda r: r.get("index", 0))
            vectors = [self._vector(row["embedding"], i, pooling) for i, row in enumerate(rows)]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise self.endpoint.error(
                f"{self.name}: the embeddings reply has no data[].embedding: "
                f"{json.dumps(data)[:200]}"
            ) from None
        if len(vectors) != len(texts):
            raise self.endpoint.error(
                f"{self.name}: asked for {len(texts)} embeddings, got {len(vectors)}"
            )
        usage = data.get("usage") or {}
        return Embeddings(
            vectors=vectors,
            model=str(data.get("model") or model),
            input_tokens=int(usage.get("prompt_tokens") or usage.get("total_tokens") or 0),
        )

    def _vector(self, embedding: Any, index: int, pooling: str | None) -> list[float]:
        """One input's vector. A server running without pooling (llama.cpp's default for
        some models) answers one vector per token: mean-pooled when asked, else a
        non-retryable failure that says how to start the server."""
        if not (embedding and isinstance(embedding[0], list)):
            return [float(x) for x in embedding]
        if pooling == "mean":
            return mean_pool([[float(x) for x in row] for row in embedding])
        raise self.endpoint.error(
            f"{self.name} returned per-token embeddings ({len(embedding)} vectors of "
            f"{len(embedding[0])} numbers for input {index}), not one vector per input: the "
            "server runs without pooling. Start it with pooling (llama.cpp: "
            "`llama-server --embeddings --pooling mean`), or set `pooling: mean` on the step "
            "or the provider to pool them here",
            retryable=False,
        )


def mean_pool(rows: list[list[float]]) -> list[float]:
    """The element-wise mean of per-token vectors."""
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("per-token vectors of different lengths")
    return [sum(column) / len(rows) for column in zip(*rows, strict=True)]
