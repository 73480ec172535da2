"""OpenAI chat completions and embeddings, and any server that speaks them
(Azure OpenAI, Ollama, vLLM, llama.cpp server, LM Studio, ...)."""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity

from activities.providers.base import ChatReply, Embeddings
from activities.providers.estimate import estimate_tokens, prompt_text
from activities.providers.http import WHOLE_REPLY, HttpEndpoint
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
        body: dict[str, Any] = {"model": step.model, "messages": chat_messages(step)}
        for name in ("temperature", "max_tokens", "top_p"):
            value = getattr(step, name)
            if value is not None:
                body[name] = value
        if step.stop:
            body["stop"] = step.stop
        if step.response_format == "json":
            body["response_format"] = {"type": "json_object"}
        elif isinstance(step.response_format, ResponseSchema):
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": step.response_format.name,
                    "schema": step.response_format.json_schema,
                    "strict": False,
                },
            }
        body.update(step.extra)
        return body

    async def complete(self, step: LlmCall) -> ChatReply:
        body = self._body(step)
        if step.stream:
            return await self._stream(step, body)
        data = await self.endpoint.post_json(
            "chat/completions",
            body,
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=_estimate_tokens(step),
        )
        return self._reply(step, data)

    def _reply(self, step: LlmCall, data: dict[str, Any]) -> ChatReply:
        """A whole (not streamed) chat completion."""
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
            text = message.get("content") or ""
            finish = choice.get("finish_reason")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise self.endpoint.error(
                f"{self.name}: the reply has no choices[0].message: {json.dumps(data)[:200]}"
            ) from None
        self._refusal(finish, message.get("refusal"))
        usage = data.get("usage") or {}
        return ChatReply(
            text=text,
            model=str(data.get("model") or step.model),
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=finish,
            metadata={"id": data.get("id"), "usage": usage, "provider": self.name},
        )

    def _refusal(self, finish: str | None, refusal: str | None) -> None:
        if finish in _REFUSAL_CODES or refusal:
            raise self.endpoint.error(
                f"{self.name} refused the request: {refusal or finish}", retryable=False
            )

    async def _stream(self, step: LlmCall, body: dict[str, Any]) -> ChatReply:
        body = {**body, "stream": True}
        if self.endpoint.settings.stream_usage:
            body["stream_options"] = {"include_usage": True}
        parts: list[str] = []
        usage: dict[str, Any] = {}
        finish: str | None = None
        model = str(step.model)
        done = False
        async for event, data in self.endpoint.stream_sse(
            "chat/completions",
            body,
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=_estimate_tokens(step),
        ):
            if event == WHOLE_REPLY:
                return self._reply(step, json.loads(data))
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
