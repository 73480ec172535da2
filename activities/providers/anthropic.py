"""Anthropic's Messages API (plain and streamed)."""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity

from activities.providers.base import ChatReply
from activities.providers.http import WHOLE_REPLY, HttpEndpoint
from activities.providers.openai import _call_timeout, _estimate_tokens
from interpreter.steps.llm import LlmCall, ResponseSchema

__all__ = ["AnthropicProvider"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024


class AnthropicProvider:
    """Chat over the Anthropic Messages wire format."""

    def __init__(self, endpoint: HttpEndpoint) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION, **self.endpoint.settings.headers}
        if self.endpoint._key:
            headers["x-api-key"] = self.endpoint._key
        return headers

    def _body(self, step: LlmCall) -> dict[str, Any]:
        system = step.system or ""
        if step.response_format == "json":
            system += "\n\nAnswer with one JSON value and nothing else."
        elif isinstance(step.response_format, ResponseSchema):
            schema = json.dumps(step.response_format.json_schema)
            system += f"\n\nAnswer with JSON matching this JSON Schema and nothing else:\n{schema}"
        messages = [
            {"role": m.role, "content": m.content} for m in step.messages if m.role != "system"
        ]
        system_messages = [m.content for m in step.messages if m.role == "system"]
        if system_messages:
            system = "\n\n".join([*system_messages, system]).strip()
        if step.prompt is not None:
            messages.append({"role": "user", "content": step.prompt})
        body: dict[str, Any] = {
            "model": step.model,
            "max_tokens": step.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": messages,
        }
        if system.strip():
            body["system"] = system.strip()
        if step.temperature is not None:
            body["temperature"] = min(step.temperature, 1.0)
        if step.top_p is not None:
            body["top_p"] = step.top_p
        if step.stop:
            body["stop_sequences"] = step.stop
        body.update(step.extra)
        return body

    def _refusal(self, stop_reason: str | None) -> None:
        if stop_reason == "refusal":
            raise self.endpoint.error(f"{self.name} refused the request", retryable=False)

    async def complete(self, step: LlmCall) -> ChatReply:
        body = self._body(step)
        if step.stream:
            return await self._stream(step, body)
        data = await self.endpoint.post_json(
            "v1/messages",
            body,
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=_estimate_tokens(step),
        )
        return self._reply(step, data)

    def _reply(self, step: LlmCall, data: dict[str, Any]) -> ChatReply:
        """A whole (not streamed) message."""
        content = data.get("content")
        if not isinstance(content, list):
            raise self.endpoint.error(
                f"{self.name}: the reply has no content blocks: {json.dumps(data)[:200]}"
            )
        text = "".join(b.get("text", "") for b in content if isinstance(b, dict))
        self._refusal(data.get("stop_reason"))
        usage = data.get("usage") or {}
        return ChatReply(
            text=text,
            model=str(data.get("model") or step.model),
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            finish_reason=data.get("stop_reason"),
            metadata={"id": data.get("id"), "usage": usage, "provider": self.name},
        )

    async def _stream(self, step: LlmCall, body: dict[str, Any]) -> ChatReply:
        parts: list[str] = []
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        model = str(step.model)
        finished = False
        async for event, data in self.endpoint.stream_sse(
            "v1/messages",
            {**body, "stream": True},
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=_estimate_tokens(step),
        ):
            if event == WHOLE_REPLY:
                return self._reply(step, json.loads(data))
            try:
                payload = json.loads(data)
            except ValueError:
                raise self.endpoint.stream_broken(
                    f"unreadable stream event: {data[:120]!r}"
                ) from None
            kind = payload.get("type", event)
            if kind == "message_start":
                message = payload.get("message") or {}
                model = str(message.get("model") or model)
                input_tokens = int((message.get("usage") or {}).get("input_tokens") or 0)
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type") == "text_delta":
                    parts.append(delta.get("text", ""))
            elif kind == "message_delta":
                stop_reason = (payload.get("delta") or {}).get("stop_reason") or stop_reason
                output_tokens = int((payload.get("usage") or {}).get("output_tokens") or 0)
            elif kind == "message_stop":
                finished = True
                break
            elif kind == "error":
                error = payload.get("error") or {}
                raise self.endpoint.stream_broken(
                    f"error in stream: {error.get('message', data[:200])} ({error.get('type')})"
                )
            if activity.in_activity():
                activity.heartbeat(len(parts))
        if not finished:
            raise self.endpoint.stream_broken("the stream ended before message_stop; retrying")
        self.endpoint.stream_ok()
        self._refusal(stop_reason)
        return ChatReply(
            text="".join(parts),
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish_reason=stop_reason,
            metadata={"provider": self.name, "streamed": True},
        )
