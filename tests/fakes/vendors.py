"""A loopback server speaking OpenAI's and Anthropic's wire formats, with scripted faults.

Every request is logged; each path has a queue of scripted answers, and when
the queue is empty the server answers like the vendor would on a good day
(with `usage` fields, so cost accounting can be checked against it).

Provider faults are tested against LLMock, an independent server
(tests/activities/test_provider_faults.py). This fake is kept only for what
LLMock 0.2 cannot do:

- a 200 answer whose body is not JSON (the HTML page of a proxy in between):
  LLMock answers in the vendor's JSON, faults included (``Fail`` sends the
  vendor's error envelope with a 4xx/5xx status);
- a connection dropped before any response to a non-streamed request
  (``Answer(drop=True)``): LLMock's ``disconnect`` fault cuts SSE streams only;
- a steady storm of mixed faults across many concurrent requests
  (``storm``: every third request fails, in turn 429 with Retry-After, 500,
  dropped connection): LLMock's scripted faults hit the next N matching
  requests in a row, and its chaos rates are random, so neither gives a
  storm whose every kind of fault is sure to occur;
- exact usage figures (``prompt_tokens=1000``): LLMock derives usage from the
  text's length (4 characters a token), which cost and budget tests cannot pin;
- request headers (authorization, ``x-api-key``, ``anthropic-version``): LLMock's
  journal records bodies, not headers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.net import serve_http


@dataclass
class Answer:
    """One scripted answer: a status and body, an SSE stream (maybe cut), or a fault."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    sse: list[tuple[str | None, str]] | None = None
    cut_after: int | None = None
    stall: float | None = None
    """With `cut_after`: keep the connection open this long after the last event sent."""
    hang: float | None = None
    raw: bytes | None = None
    drop: bool = False


@dataclass
class Logged:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


def openai_chat(
    text: str,
    *,
    prompt_tokens: int = 12,
    completion_tokens: int = 5,
    model: str = "gpt-4o-mini",
    finish: str = "stop",
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }  # fmt: skip


def anthropic_message(
    text: str,
    *,
    input_tokens: int = 20,
    output_tokens: int = 8,
    model: str = "claude-3-5-haiku-latest",
    stop: str = "end_turn",
) -> dict[str, Any]:
    return {
        "id": "msg_1", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }  # fmt: skip


def openai_stream(
    pieces: list[str], *, prompt_tokens: int = 9, completion_tokens: int = 4
) -> list[tuple[str | None, str]]:
    events: list[tuple[str | None, str]] = []
    for piece in pieces:
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        events.append((None, json.dumps(chunk)))
    events.append(
        (
            None,
            json.dumps(
                {
                    "id": "c",
                    "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                }
            ),
        )
    )
    events.append(
        (
            None,
            json.dumps(
                {
                    "id": "c",
                    "model": "gpt-4o-mini",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                }
            ),
        )
    )
    events.append((None, "[DONE]"))
    return events


def anthropic_stream(
    pieces: list[str], *, input_tokens: int = 15, output_tokens: int = 6
) -> list[tuple[str | None, str]]:
    events: list[tuple[str | None, str]] = [
        (
            "message_start",
            json.dumps(
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "content": [],
                        "model": "claude-3-5-haiku-latest",
                        "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                    },
                }
            ),
        ),
        (
            "content_block_start",
            json.dumps(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                }
            ),
        ),
    ]
    for piece in pieces:
        events.append(
            (
                "content_block_delta",
                json.dumps(
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": piece},
                    }
                ),
            )
        )
    events += [
        ("content_block_stop", json.dumps({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            json.dumps(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": output_tokens},
                }
            ),
        ),
        ("message_stop", json.dumps({"type": "message_stop"})),
    ]
    return events


class FakeVendor:
    """Start with ``with FakeVendor.running() as fake:``; ``fake.url`` is its base URL."""

    def __init__(self) -> None:
        self.script: dict[str, deque[Answer]] = {}
        self.log: list[Logged] = []
        self.default_text = "positive"
        self.storm = False
        """Every 3rd request fails: 429 (Retry-After 0.2 s), then 500, then a dropped connection."""
        self._count = 0
        self._lock = threading.Lock()
        self.url = ""
        """Its base URL, once running."""

    def base_url(self, provider: str) -> str:
        """The base URL a client of ``provider`` (`openai` or `anthropic`) is configured with."""
        return f"{self.url}/v1" if provider == "openai" else self.url

    def then(self, path: str, *answers: Answer) -> FakeVendor:
        self.script.setdefault(path, deque()).extend(answers)
        return self

    def requests(self, path: str | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if path is None or r.path == path]

    def _next(self, path: str, body: dict[str, Any]) -> Answer:
        with self._lock:
            self._count += 1
            queue = self.script.get(path)
            if queue:
                return queue.popleft()
            if self.storm and self._count % 3 == 0:
                fault = (self._count // 3) % 3
                if fault == 0:
                    return Answer(
                        status=429,
                        headers={"Retry-After": "0.2"},
                        body={"error": {"message": "slow down", "type": "rate_limit"}},
                    )
                if fault == 1:
                    return Answer(status=500, body={"error": {"message": "internal"}})
                return Answer(drop=True)
        return self.default(path, body)

    def default(self, path: str, body: dict[str, Any]) -> Answer:
        if path.endswith("/embeddings"):
            inputs = body.get("input") or []
            inputs = [inputs] if isinstance(inputs, str) else inputs
            dims = int(body.get("dimensions") or 8)
            data = [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": [round((i + 1) / (j + 2), 4) for j in range(dims)],
                }
                for i in range(len(inputs))
            ]
            return Answer(
                body={
                    "object": "list",
                    "data": data,
                    "model": body.get("model"),
                    "usage": {"prompt_tokens": 3 * len(inputs), "total_tokens": 3 * len(inputs)},
                }
            )
        stream = bool(body.get("stream"))
        if path.endswith("/messages"):
            if stream:
                return Answer(sse=anthropic_stream([self.default_text]))
            return Answer(body=anthropic_message(self.default_text))
        if stream:
            return Answer(sse=openai_stream([self.default_text]))
        return Answer(body=openai_chat(self.default_text))

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[FakeVendor]:
        fake = cls()
        with serve_http(type("Handler", (_Handler,), {"fake": fake})) as fake.url:
            yield fake


class _Handler(BaseHTTPRequestHandler):
    fake: FakeVendor
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        path = self.path.split("?")[0]
        with self.fake._lock:
            self.fake.log.append(
                Logged(
                    path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
                )
            )
        answer = self.fake._next(path, body)
        if answer.drop:
            # a real disconnect: shut the socket down, not just drop our reference to it
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if answer.hang is not None:
            time.sleep(answer.hang)
            return
        if answer.sse is not None:
            self.send_response(answer.status)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for i, (event, data) in enumerate(answer.sse):
                if answer.cut_after is not None and i >= answer.cut_after:
                    if answer.stall:
                        time.sleep(answer.stall)
                    break
                text = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
                self.wfile.write(text.encode())
                self.wfile.flush()
            self.close_connection = True
            return
        payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json" if answer.raw is None else "text/html")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
