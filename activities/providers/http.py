"""The HTTP side every vendor module shares: one pooled client, limits, errors, SSE.

Vendor SDK-style retries are off (``httpx`` never retries on its own here);
Temporal owns retries. What this module decides is *whether* a failure is worth
retrying and *when*: the statuses :func:`activities._failures.retryable_status`
names, connection errors, timeouts and unreadable bodies are retryable, with
``Retry-After`` / ``retry-after-ms`` / ``x-ratelimit-reset-*`` /
``anthropic-ratelimit-*-reset`` turned into the delay; other 4xx are not, and
keep the vendor's message.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from temporalio import activity

from activities import telemetry
from activities._failures import context_length_exceeded, retryable_status
from activities._heartbeat import heartbeating
from activities.providers.config import ProviderSettings
from activities.providers.resilience import BreakerOpen, CircuitBreaker, RateLimits
from activities.redaction import redact, remember_secret
from interpreter.errors import ERROR_CIRCUIT_OPEN, ERROR_CONTEXT_LENGTH, ProviderError

__all__ = ["WHOLE_REPLY", "HttpEndpoint", "idempotency_key", "retry_delay"]

WHOLE_REPLY = "whole-reply"
"""The event :meth:`HttpEndpoint.stream_sse` yields, once, when a server answered a streamed
request with a whole JSON reply instead of a stream (its data: that JSON)."""

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _seconds(value: str, now: datetime) -> float | None:
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _GO_DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT[u] for n, u in parts)
    for parse in (datetime.fromisoformat, parsedate_to_datetime):
        try:
            moment = parse(text.replace("Z", "+00:00") if parse is datetime.fromisoformat else text)
        except (TypeError, ValueError):
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return max(0.0, (moment - now).total_seconds())
    return None


def retry_delay(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, from any header vendors use for it."""
    now = now or datetime.now(UTC)
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    if "retry-after" in lowered:
        delay = _seconds(lowered["retry-after"], now)
        if delay is not None:
            return delay
    resets = [
        _seconds(v, now)
        for k, v in lowered.items()
        if (
            k.startswith("x-ratelimit-reset")
            or (k.startswith("anthropic-ratelimit") and k.endswith("-reset"))
        )
    ]
    known = [r for r in resets if r is not None]
    return max(known) if known else None


def _vendor_message(body: str) -> str:
    """The human part of an error body: OpenAI's and Anthropic's `error.message`, else the text."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or "(empty body)"
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            kind = error.get("type") or error.get("code")
            return f"{error['message']}" + (f" ({kind})" if kind else "")
        if isinstance(error, str):
            return error
        if data.get("message"):
            return str(data["message"])
    return body.strip()[:500]


def idempotency_key(path: str, payload: Mapping[str, Any]) -> str | None:
    """A key that is the same for every retry of one activity's request, and differs between
    runs, steps and requests (an embed step's batches): workflow id, run id, activity id,
    path and body, hashed so that no id or prompt text is sent. None outside an activity."""
    if not activity.in_activity():
        return None
    info = activity.info()
    material = json.dumps(
        [info.workflow_id, info.workflow_run_id, info.activity_id, path, payload],
        sort_keys=True,
        default=str,
    )
    return "llmo-" + hashlib.sha256(material.encode()).hexdigest()[:40]


class HttpEndpoint:
    """A provider endpoint: base URL, key, pooled client, breaker and rate limits."""

    def __init__(self, name: str, settings: ProviderSettings, api_key: str | None) -> None:
        self.name = name
        self.settings = settings
        self._key = api_key
        remember_secret(api_key)
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_cooldown)
        self.limits = RateLimits(settings.requests_per_minute, settings.tokens_per_minute)
        self._client: httpx.AsyncClient | None = None
        self.requests_sent = 0
        self.last_sent: list[float] = []
        """Monotonic send times of the last 1,000 requests (for breaker checks)."""

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.settings.base_url.rstrip("/") + "/",
                http2=self.settings.http2,
                timeout=httpx.Timeout(600.0, connect=10.0),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                follow_redirects=False,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def error(
        self,
        message: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        error_type: str | None = None,
    ) -> ProviderError:
        exc = ProviderError(
            redact(message),
            provider=self.name,
            status=status,
            headers=headers,
            retryable=retryable,
            error_type=error_type,
        )
        exc.retry_after = (
            retry_after if retry_after is not None else (retry_delay(headers) if headers else None)
        )
        return exc

    async def _admit(self, estimated_tokens: int) -> float:
        waited = await self.limits.acquire(estimated_tokens)
        telemetry.rate_limit_waited(self.name, waited)
        try:
            self.breaker.before_request()
        except BreakerOpen as exc:
            raise self.error(
                f"{exc}; request not sent", retry_after=exc.remaining, error_type=ERROR_CIRCUIT_OPEN
            ) from None
        self.requests_sent += 1
        self.last_sent.append(time.monotonic())
        del self.last_sent[:-1000]
        return waited

    def _headers(
        self, path: str, payload: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, str]:
        """The vendor module's headers plus the idempotency key, so a retry after a lost
        reply is recognised by vendors that honour one, not billed twice."""
        name = self.settings.idempotency_header
        key = idempotency_key(path, payload) if name else None
        if name and key and name.lower() not in {h.lower() for h in headers}:
            return {**headers, name: key}
        return headers

    def _check(self, response: httpx.Response, body: str) -> None:
        status = response.status_code
        if status < 400:
            return
        retryable = retryable_status(status)
        message = f"{self.name} answered HTTP {status}: {_vendor_message(body)}"
        if retryable:
            self.breaker.failure(redact(message))
        # the vendor's code (`context_length_exceeded`) may be in the body only, not the message
        too_long = not retryable and context_length_exceeded(body)
        raise self.error(
            message,
            status=status,
            headers=response.headers,
            retryable=retryable,
            error_type=ERROR_CONTEXT_LENGTH if too_long else None,
        )

    def _failed(self, message: str, **details: Any) -> ProviderError:
        """A retryable failure the breaker counts, remembering ``message`` as its cause."""
        error = self.error(message, **details)
        self.breaker.failure(str(error))
        return error

    def _unreachable(self, exc: httpx.HTTPError) -> ProviderError:
        """A connection failure, naming the address: "connection refused to 127.0.0.1:8080"."""
        url = self.client.base_url
        where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConnectionRefusedError):
                return self._failed(f"{self.name}: connection refused to {where}")
            cause = cause.__cause__ or cause.__context__
        return self._failed(
            f"{self.name}: connection to {where} failed: {type(exc).__name__}: {exc}"
        )

    async def post_json(
        self,
        path: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        *,
        timeout: float,
        estimated_tokens: int = 0,
    ) -> dict[str, Any]:
        """POST JSON, return the decoded JSON body, or raise a classified ProviderError."""
        await self._admit(estimated_tokens)
        try:
            # a model may think for minutes: heartbeat, so a cancelled run stops the call
            async with heartbeating():
                response = await self.client.post(
                    path.lstrip("/"),
                    json=payload,
                    headers=self._headers(path, payload, headers),
                    params=self.settings.query or None,
                    timeout=timeout,
                )
        except httpx.TimeoutException:
            raise self._failed(f"{self.name}: no answer within {timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None
        body = response.text
        self._check(response, body)
        try:
            data = json.loads(body)
        except ValueError:
            raise self._failed(
                f"{self.name} answered HTTP {response.status_code} with a body that is not JSON: "
                f"{body[:200]!r}",
                status=response.status_code,
            ) from None
        if not isinstance(data, dict):
            raise self._failed(f"{self.name} answered with JSON that is not an object")
        self.breaker.success()
        return data

    async def stream_sse(
        self,
        path: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        *,
        timeout: float,
        estimated_tokens: int = 0,
    ) -> AsyncIterator[tuple[str, str]]:
        """POST and yield ``(event, data)`` pairs of a server-sent event stream."""
        await self._admit(estimated_tokens)
        try:
            async with self.client.stream(
                "POST",
                path.lstrip("/"),
                json=payload,
                headers=self._headers(path, payload, headers),
                params=self.settings.query or None,
                timeout=timeout,
            ) as response:
                if response.status_code >= 400:
                    body = (await response.aread()).decode("utf-8", "replace")
                    self._check(response, body)
                kind = response.headers.get("content-type", "text/event-stream")
                if not kind.lower().startswith("text/event-stream"):
                    body = (await response.aread()).decode("utf-8", "replace")
                    whole = self._not_a_stream(kind, body)
                    self.breaker.success()
                    yield WHOLE_REPLY, json.dumps(whole)
                    return
                event = "message"
                data: list[str] = []
                async for line in response.aiter_lines():
                    if line == "":
                        if data:
                            yield event, "\n".join(data)
                        event, data = "message", []
                    elif line.startswith(":"):
                        continue
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip(" "))
                if data:
                    yield event, "\n".join(data)
        except httpx.TimeoutException:
            raise self._failed(
                f"{self.name}: the stream stalled for more than {timeout:g}s"
            ) from None
        except httpx.ConnectError as exc:
            raise self._unreachable(exc) from None
        except httpx.HTTPError as exc:
            raise self._failed(
                f"{self.name}: the stream broke: {type(exc).__name__}: {exc}"
            ) from None

    def _not_a_stream(self, kind: str, body: str) -> dict[str, Any]:
        """A streamed request answered with something else than server-sent events.

        An error body fails the step with the vendor's message (retryable only if the
        error's own ``code`` is a retryable HTTP status); a whole JSON reply, from a server
        that ignores ``stream``, is returned for the caller to read as a plain reply; any
        other body is not something a retry would change.
        """
        media = kind.split(";")[0].strip()
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise self.error(
                f"{self.name} answered a streamed request with {media}, not an event stream: "
                f"{body.strip()[:200]!r}",
                retryable=False,
            )
        if data.get("error") or data.get("type") == "error":
            error = data.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            raise self.error(
                f"{self.name} answered a streamed request with an error ({media}): "
                f"{_vendor_message(body)}",
                retryable=isinstance(code, int) and retryable_status(code),
            )
        return data

    def stream_ok(self) -> None:
        self.breaker.success()

    def stream_broken(self, message: str) -> ProviderError:
        return self._failed(f"{self.name}: {message}")
