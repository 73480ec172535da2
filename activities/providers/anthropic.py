"""Anthropic's Messages API (plain and streamed), tool use included."""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity

from activities.live_tokens import text_arrived
from activities.providers.base import ChatReply, ResponseFormat, turn_response_format
from activities.providers.estimate import conversation_text, estimate_tokens
from activities.providers.http import WHOLE_REPLY, HttpEndpoint
from activities.providers.openai import _call_timeout, _estimate_tokens
from interpreter.conversation import AgentMessage, AgentTurnCall, ToolCall
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
        messages = [
            {"role": m.role, "content": m.content} for m in step.messages if m.role != "system"
        ]
        system_messages = [m.content for m in step.messages if m.role == "system"]
        system = "\n\n".join([*system_messages, step.system or ""]).strip()
        if step.prompt is not None:
            messages.append({"role": "user", "content": step.prompt})
        body = _options(step.model, step, system, step.response_format)
        body["messages"] = messages
        if step.stop:
            body["stop_sequences"] = step.stop
        body.update(step.extra)
        return body

    def _turn_body(self, call: AgentTurnCall) -> dict[str, Any]:
        """An agent turn: the conversation as Messages content blocks, the tools with their
        ``input_schema``."""
        body = _options(call.model, call, call.system or "", turn_response_format(call))
        body["messages"] = turn_messages(call.messages)
        if call.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in call.tools
            ]
        body.update(call.extra)
        return body

    def _refusal(self, stop_reason: str | None) -> None:
        if stop_reason == "refusal":
            raise self.endpoint.error(f"{self.name} refused the request", retryable=False)

    async def complete(self, step: LlmCall) -> ChatReply:
        return await self._messages(
            self._body(step),
            model=step.model,
            stream=step.stream,
            estimated_tokens=_estimate_tokens(step),
        )

    async def complete_turn(self, call: AgentTurnCall) -> ChatReply:
        """One model turn of an `agent` step: a final text, or the tool calls it asks for."""
        return await self._messages(
            self._turn_body(call),
            model=call.model,
            stream=call.stream,
            estimated_tokens=estimate_tokens(conversation_text(call))
            + (call.max_tokens or DEFAULT_MAX_TOKENS),
        )

    async def _messages(
        self, body: dict[str, Any], *, model: str, stream: bool, estimated_tokens: int
    ) -> ChatReply:
        if stream:
            return await self._stream(model, body, estimated_tokens)
        data = await self.endpoint.post_json(
            "v1/messages",
            body,
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=estimated_tokens,
        )
        return self._reply(model, data)

    def _reply(self, model: str, data: dict[str, Any]) -> ChatReply:
        """A whole (not streamed) message."""
        content = data.get("content")
        if not isinstance(content, list):
            raise self.endpoint.error(
                f"{self.name}: the reply has no content blocks: {json.dumps(data)[:200]}"
            )
        blocks = [b for b in content if isinstance(b, dict)]
        text = "".join(b.get("text", "") for b in blocks if b.get("type", "text") == "text")
        calls = [
            ToolCall(
                id=str(b.get("id") or ""),
                name=str(b.get("name") or ""),
                arguments=_input_text(b.get("input")),
            )
            for b in blocks
            if b.get("type") == "tool_use"
        ]
        self._refusal(data.get("stop_reason"))
        usage = data.get("usage") or {}
        return ChatReply(
            text=text,
            model=str(data.get("model") or model),
            input_tokens=int(usage.get("input_tokens") or 0),
            output_tokens=int(usage.get("output_tokens") or 0),
            finish_reason=data.get("stop_reason"),
            metadata={"id": data.get("id"), "usage": usage, "provider": self.name},
            tool_calls=calls,
        )

    async def _stream(self, model: str, body: dict[str, Any], estimated_tokens: int) -> ChatReply:
        parts: list[str] = []
        # tool_use blocks by content index: id, name, the partial_json pieces
        calls: dict[int, tuple[str, str, list[str]]] = {}
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        asked = model
        finished = False
        async for event, data in self.endpoint.stream_sse(
            "v1/messages",
            {**body, "stream": True},
            self._headers(),
            timeout=_call_timeout(),
            estimated_tokens=estimated_tokens,
        ):
            if event == WHOLE_REPLY:
                return self._reply(asked, json.loads(data))
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
            elif kind == "content_block_start":
                block = payload.get("content_block") or {}
                if block.get("type") == "tool_use":
                    # `input` is {} here; the arguments follow as input_json_delta pieces
                    start = [] if not block.get("input") else [json.dumps(block["input"])]
                    calls[int(payload.get("index") or 0)] = (
                        str(block.get("id") or ""),
                        str(block.get("name") or ""),
                        start,
                    )
            elif kind == "content_block_delta":
                delta = payload.get("delta") or {}
                if delta.get("type") == "text_delta":
                    parts.append(delta.get("text", ""))
                    text_arrived(delta.get("text", ""))
                elif delta.get("type") == "input_json_delta":
                    call = calls.get(int(payload.get("index") or 0))
                    if call is not None:
                        call[2].append(str(delta.get("partial_json") or ""))
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
            tool_calls=[
                ToolCall(id=call_id, name=name, arguments=_streamed_input("".join(pieces)))
                for _, (call_id, name, pieces) in sorted(calls.items())
            ],
        )


def _options(
    model: str, source: LlmCall | AgentTurnCall, system: str, fmt: ResponseFormat
) -> dict[str, Any]:
    """The body's model, sampling settings and system prompt, for `llm` steps and agent
    turns alike. Anthropic has no ``response_format``: the system prompt asks for JSON."""
    if fmt == "json":
        system += "\n\nAnswer with one JSON value and nothing else."
    elif isinstance(fmt, ResponseSchema):
        schema = json.dumps(fmt.json_schema)
        system += f"\n\nAnswer with JSON matching this JSON Schema and nothing else:\n{schema}"
    body: dict[str, Any] = {"model": model, "max_tokens": source.max_tokens or DEFAULT_MAX_TOKENS}
    if system.strip():
        body["system"] = system.strip()
    if source.temperature is not None:
        body["temperature"] = min(source.temperature, 1.0)
    if source.top_p is not None:
        body["top_p"] = source.top_p
    return body


def turn_messages(messages: list[AgentMessage]) -> list[dict[str, Any]]:
    """The neutral conversation as Messages: an assistant turn's tool calls become
    ``tool_use`` blocks, and consecutive tool results one user message of ``tool_result``
    blocks (Messages alternate user and assistant)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
                "is_error": message.is_error,
            }
            last = out[-1] if out else None
            if last and last["role"] == "user" and isinstance(last["content"], list):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif message.role == "assistant" and message.tool_calls:
            blocks: list[dict[str, Any]] = (
                [{"type": "text", "text": message.content}] if message.content else []
            )
            blocks += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)}
                for c in message.tool_calls
            ]
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def _input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as the ``input`` object Anthropic requires. Arguments that
    are not a JSON object (a model's mistake, already answered with an error result) are
    kept under ``_raw`` so the model still sees what it wrote."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def _input_text(value: Any) -> str:
    return json.dumps(value if value is not None else {})


def _streamed_input(text: str) -> str:
    """Streamed ``partial_json`` pieces joined, written as a whole reply's ``input`` would
    be (so streaming does not change a transcript); text that is not JSON stays as sent."""
    if not text.strip():
        return "{}"
    try:
        return json.dumps(json.loads(text))
    except ValueError:
        return text
