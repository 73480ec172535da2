"""The `action` step: log, http/webhook POSTs to allowed hosts, and notification sinks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio import activity

from activities._failures import classified
from activities.providers.http import RETRYABLE_STATUS, retry_delay
from activities.settings import ActivitySettings
from interpreter.contract import ACTIVITY_ACTION, StepOutcome
from interpreter.errors import ERROR_ACTION_NOT_ALLOWED, ProviderError, StepError
from interpreter.steps.action import ActionRequest

__all__ = ["ActionActivities"]

_SINKS = ("publish", "queue_review", "send_notification", "notify")


class ActionActivities:
    """Holds the worker's shared HTTP client and settings for action steps."""

    def __init__(self, settings: ActivitySettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client

    @activity.defn(name=ACTIVITY_ACTION)
    @classified
    async def run(self, request: ActionRequest) -> StepOutcome:
        step = request.step
        params = dict(step.params)
        attempt = activity.info().attempt
        if step.action == "log":
            message = params.pop("message", None)
            text = message if isinstance(message, str) else json.dumps(params, default=str)
            activity.logger.info("%s · %s", step.id, text)
            return StepOutcome(output=text, attempt=attempt)
        if step.action in ("http", "webhook"):
            url = params.pop("url", None)
            if not isinstance(url, str):
                raise StepError(step.id, "an `http` action needs `url`")
            method = str(params.pop("method", "POST")).upper()
            headers = params.pop("headers", {}) or {}
            body = params.pop("body", params.pop("json", params or None))
            result = await self._send(step.id, url, method, headers, body, request)
            return StepOutcome(output=result, attempt=attempt)
        if step.action in _SINKS:
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
                return StepOutcome(output={"sink": "log", **payload}, attempt=attempt)
            result = await self._send(step.id, url, "POST", {}, payload, request)
            return StepOutcome(output={"sink": "webhook", **result}, attempt=attempt)
        raise StepError(step.id, f"unknown action `{step.action}`")

    async def _send(
        self,
        step_id: str,
        url: str,
        method: str,
        headers: dict[str, Any],
        body: Any,
        request: ActionRequest,
    ) -> dict[str, Any]:
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
            response = await self._client.request(
                method, url, json=body if method != "GET" else None, headers=send_headers
            )
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{method} {url} timed out: {exc}", provider=host) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{method} {url} failed: {exc}", provider=host) from None
        if response.status_code >= 400:
            retryable = response.status_code in RETRYABLE_STATUS or response.status_code >= 500
            error = ProviderError(
                f"{method} {url} answered {response.status_code}: {response.text[:500]}",
                provider=host,
                status=response.status_code,
                headers=response.headers,
                retryable=retryable,
            )
            error.retry_after = retry_delay(response.headers)
            raise error
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = response.text
        return {"status": response.status_code, "body": parsed}
