"""The `action` step: log, http/webhook calls to allowed hosts, and notification sinks.

Which actions exist is ``interpreter.contract.BUILTIN_ACTIONS``; :data:`HANDLERS`
maps each of them to its handler here, and a test checks that the two agree.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio import activity

from activities._failures import classified, retryable_status
from activities._heartbeat import heartbeating
from activities.providers.http import retry_delay
from activities.settings import ActivitySettings
from interpreter.contract import ACTIVITY_ACTION, SINK_ACTIONS, StepOutcome
from interpreter.errors import ERROR_ACTION_NOT_ALLOWED, ProviderError, StepError
from interpreter.steps.action import ActionRequest

__all__ = ["HANDLERS", "ActionActivities"]

Handler = Callable[["ActionActivities", ActionRequest, dict[str, Any]], Awaitable[Any]]
"""Runs one action: the activity, its request, and the step's parameters (a copy)."""


class ActionActivities:
    """Holds the worker's shared HTTP client and settings for action steps."""

    def __init__(self, settings: ActivitySettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client

    @activity.defn(name=ACTIVITY_ACTION)
    @classified
    async def run(self, request: ActionRequest) -> StepOutcome:
        step = request.step
        handler = HANDLERS.get(step.action)
        if handler is None:
            raise StepError(step.id, f"unknown action `{step.action}`")
        output = await handler(self, request, dict(step.params))
        return StepOutcome(output=output, attempt=activity.info().attempt)

    async def _log(self, request: ActionRequest, params: dict[str, Any]) -> str:
        message = params.pop("message", None)
        text = message if isinstance(message, str) else json.dumps(params, default=str)
        activity.logger.info("%s · %s", request.step.id, text)
        return text

    async def _http(self, request: ActionRequest, params: dict[str, Any]) -> dict[str, Any]:
        url = params.pop("url", None)
        if not isinstance(url, str):
            raise StepError(request.step.id, "an `http` action needs `url`")
        method = str(params.pop("method", "POST")).upper()
        headers = params.pop("headers", {}) or {}
        body = params.pop("body", params.pop("json", params or None))
        return await self._send(request, url, method, headers, body)

    async def _sink(self, request: ActionRequest, params: dict[str, Any]) -> dict[str, Any]:
        step = request.step
        payload = {
            "action": step.action,
            "step": step.id,
            "workflow_id": request.workflow_id,
            "run_id": request.run_id,
            **params,
        }
        url = self._settings.sink_urls.get(step.action)
        if url is None:
            activity.logger.info(
                "%s · %s (log sink) %s", step.id, step.action, json.dumps(params, default=str)
            )
            return {"sink": "log", **payload}
        result = await self._send(request, url, "POST", {}, payload)
        return {"sink": "webhook", **result}

    async def _send(
        self,
        request: ActionRequest,
        url: str,
        method: str,
        headers: dict[str, Any],
        body: Any,
    ) -> dict[str, Any]:
        step_id = request.step.id
        host = (urlsplit(url).hostname or "").lower()
        allowed = self._settings.http_allowed_hosts
        if host not in allowed:
            raise StepError(
                step_id,
                f"host `{host}` is not allowed for http actions; add it to "
                "LLM_ORCHESTRATOR_HTTP_ALLOW on the worker"
                + (f" (allowed now: {', '.join(sorted(allowed))})" if allowed else ""),
                error_type=ERROR_ACTION_NOT_ALLOWED,
            )
        send_headers = {str(k): str(v) for k, v in headers.items()}
        # lets receivers de-duplicate retried deliveries
        send_headers.setdefault("Idempotency-Key", f"{request.run_id}/{step_id}")
        try:
            # a slow endpoint must not outlive a cancelled run
            async with heartbeating():
                response = await self._client.request(
                    method, url, json=body if method != "GET" else None, headers=send_headers
                )
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{method} {url} timed out: {exc}", provider=host) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{method} {url} failed: {exc}", provider=host) from None
        if response.status_code >= 400:
            error = ProviderError(
                f"{method} {url} answered {response.status_code}: {response.text[:500]}",
                provider=host,
                status=response.status_code,
                headers=response.headers,
                retryable=retryable_status(response.status_code),
            )
            error.retry_after = retry_delay(response.headers)
            raise error
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = response.text
        return {"status": response.status_code, "body": parsed}


HANDLERS: dict[str, Handler] = {
    "log": ActionActivities._log,
    "http": ActionActivities._http,
    "webhook": ActionActivities._http,
    **dict.fromkeys(SINK_ACTIONS, ActionActivities._sink),
}
"""The handler of every built-in action, keyed by its name in ``BUILTIN_ACTIONS``."""
