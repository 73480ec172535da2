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

from activities._allowlist import AllowList, NotAllowed
from activities._failures import classified, retryable_status
from activities._heartbeat import heartbeating
from activities.providers.http import retry_delay
from activities.settings import ActivitySettings
from interpreter.contract import ACTIVITY_ACTION, SINK_ACTIONS, StepOutcome
from interpreter.errors import ERROR_ACTION_NOT_ALLOWED, ProviderError, StepError
from interpreter.steps.action import ActionRequest, log_line

__all__ = ["HANDLERS", "ActionActivities"]

_MAX_REDIRECTS = 5
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})

Handler = Callable[["ActionActivities", ActionRequest, dict[str, Any]], Awaitable[Any]]
"""Runs one action: the activity, its request, and the step's parameters (a copy)."""


class ActionActivities:
    """Holds the worker's shared HTTP client and settings for action steps."""

    def __init__(self, settings: ActivitySettings, client: httpx.AsyncClient) -> None:
        self._settings = settings
        self._client = client
        self._allow = AllowList.parse(settings.http_allowed_hosts, settings.http_allowed_networks)

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
        # runs recorded before `log` moved into the workflow (interpreter.steps.action)
        text = log_line(params)
        activity.logger.info("%s · %s", request.step.id, text)
        return text

    async def _http(self, request: ActionRequest, params: dict[str, Any]) -> dict[str, Any]:
        url = params.pop("url", None)
        if not isinstance(url, str):
            raise StepError(request.step.id, "an `http` action needs `url`")
        follow = params.pop("follow_redirects", False)
        if not isinstance(follow, bool):
            raise StepError(request.step.id, "`follow_redirects` must be true or false")
        method = str(params.pop("method", "POST")).upper()
        headers = params.pop("headers", {}) or {}
        body = params.pop("body", params.pop("json", params or None))
        return await self._send(request, url, method, headers, body, follow_redirects=follow)

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
        *,
        follow_redirects: bool = False,
    ) -> dict[str, Any]:
        """Send to an allowed address; any answer but 2xx fails the step.

        Redirects are followed only when asked, at most ``_MAX_REDIRECTS`` hops,
        each checked against the allow-list like the first URL.
        """
        step_id = request.step.id
        send_headers = {str(k): str(v) for k, v in headers.items()}
        if any(name.lower() == "host" for name in send_headers):
            raise StepError(
                step_id,
                "the `Host` header cannot be set: it is always the URL's host",
                error_type=ERROR_ACTION_NOT_ALLOWED,
            )
        # lets receivers de-duplicate retried deliveries
        send_headers.setdefault("Idempotency-Key", f"{request.run_id}/{step_id}")
        for hop in range(_MAX_REDIRECTS + 1):
            response = await self._request(step_id, method, url, send_headers, body)
            location = response.headers.get("location")
            if not (follow_redirects and response.is_redirect and location):
                break
            if hop == _MAX_REDIRECTS:
                raise ProviderError(
                    f"{method} {url}: more than {_MAX_REDIRECTS} redirects",
                    provider=_host(url),
                    retryable=False,
                )
            next_url = str(httpx.URL(url).join(location))
            if _host(next_url) != _host(url):
                # credentials meant for one host never travel to another
                send_headers = {
                    k: v for k, v in send_headers.items() if k.lower() not in _CREDENTIALS
                }
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method == "POST"
            ):
                method, body = ("GET" if method != "HEAD" else method), None
            url = next_url
        if not response.is_success:
            hint = ""
            if response.is_redirect:  # only when not asked to follow
                hint = (
                    f" (redirect to {response.headers['location']}; "
                    "set `follow_redirects: true` to follow it)"
                )
            error = ProviderError(
                f"{method} {url} answered {response.status_code}{hint}: {response.text[:500]}",
                provider=_host(url),
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

    async def _request(
        self, step_id: str, method: str, url: str, headers: dict[str, str], body: Any
    ) -> httpx.Response:
        """One request to the address the allow-list checked (never re-resolved)."""
        try:
            target = await self._allow.check(url)
        except NotAllowed as exc:
            raise StepError(step_id, str(exc), error_type=ERROR_ACTION_NOT_ALLOWED) from None
        try:
            # a slow endpoint must not outlive a cancelled run
            async with heartbeating():
                return await self._client.request(
                    method,
                    target.url,
                    json=body if method not in ("GET", "HEAD") else None,
                    headers={**headers, "Host": target.host_header},
                    extensions={"sni_hostname": target.sni_hostname} if target.sni_hostname else {},
                )
        except httpx.TimeoutException as exc:
            raise ProviderError(f"{method} {url} timed out: {exc}", provider=_host(url)) from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{method} {url} failed: {exc}", provider=_host(url)) from None


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


HANDLERS: dict[str, Handler] = {
    "log": ActionActivities._log,
    "http": ActionActivities._http,
    "webhook": ActionActivities._http,
    **dict.fromkeys(SINK_ACTIONS, ActionActivities._sink),
}
"""The handler of every built-in action, keyed by its name in ``BUILTIN_ACTIONS``."""
