"""The step cache around a model activity: look the request up, else call and keep the answer.

:func:`cached` wraps an activity method of an object that has a ``step_cache``
(:class:`StepCacheUse`). A request whose step carries a ``cache``
(:class:`interpreter.contract.CacheUse`) is looked up under its key: a hit returns
the stored output and extras with no provider call, its usage ``cached`` (0 tokens,
$0) and its note ``cached``; a miss runs the activity and stores what it returned
for the step's TTL. A store that cannot be used never fails the step: it runs
uncached and the worker logs a warning saying so.

The key (:func:`step_key`) is a hash of the fully rendered request, with what does
not change the answer left out (the step id, retry jitter, streaming, batching),
plus whether the run is offline, so offline and real answers never mix. A step
that gives a ``key`` is keyed by that rendered key, its kind and the offline flag.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from temporalio import activity

from activities._heartbeat import heartbeating
from activities.cache.store import CacheUnavailable, StepCache, request_key
from interpreter.contract import StepOutcome, Usage
from interpreter.conversation import AgentTurn
from interpreter.steps import StepCall

__all__ = ["NOTE_CACHED", "StepCacheUse", "cached", "step_key"]

NOTE_CACHED = "cached"
"""The note (and so the step record's ``reason``) of an answer that came from the cache."""

_NOT_THE_REQUEST = frozenset({"id", "jitter", "stream", "batch_size", "cache"})
"""Payload fields that do not change a model's answer, so not part of its key."""


class _CachedRequest(Protocol):
    @property
    def step(self) -> StepCall: ...

    @property
    def offline(self) -> bool: ...


def step_key(kind: str, request: _CachedRequest) -> str:
    """The key of a model step's request (see the module's docstring)."""
    use = getattr(request.step, "cache", None)
    if use is not None and use.key is not None:
        return request_key(kind, {"key": use.key, "offline": request.offline})
    rendered = request.step.model_dump(mode="json", exclude=set(_NOT_THE_REQUEST))
    return request_key(kind, {"request": rendered, "offline": request.offline})


class StepCacheUse:
    """A worker's step cache as its model activities use it: store calls off the event
    loop and heartbeating, an unusable store logged and passed over."""

    def __init__(self, store: StepCache | None) -> None:
        self.store = store

    async def lookup(self, step_id: str, key: str) -> dict[str, Any] | None:
        if self.store is None:
            return None
        try:
            async with heartbeating():  # a busy SQLite file may make it wait seconds
                return await asyncio.to_thread(self.store.get, key)
        except CacheUnavailable as exc:
            _uncached(step_id, exc)
            return None

    async def keep(self, step_id: str, key: str, value: dict[str, Any], ttl_s: float) -> None:
        if self.store is None:
            return
        try:
            async with heartbeating():
                await asyncio.to_thread(self.store.put, key, value, ttl_s)
        except CacheUnavailable as exc:
            _uncached(step_id, exc)


def _uncached(step_id: str, exc: CacheUnavailable) -> None:
    activity.logger.warning("%s: running uncached: the step cache is unavailable: %s", step_id, exc)


class _HasStepCache(Protocol):
    step_cache: StepCacheUse


S = TypeVar("S", bound=_HasStepCache)
Q = TypeVar("Q", bound=_CachedRequest)


R = TypeVar("R", StepOutcome, AgentTurn)
Method = Callable[[S, Q], Awaitable[R]]


def _answer(result: type[R], entry: dict[str, Any]) -> R | None:
    """A stored entry as the activity's result, usage ``cached``; ``None``: not one."""
    if result is AgentTurn:
        fields = entry.get("turn")
    elif "output" in entry:
        fields = {"output": entry["output"], "extras": entry.get("extras", []), "note": NOTE_CACHED}
    else:
        fields = None
    if not isinstance(fields, dict):
        return None
    attempt = activity.info().attempt
    return result.model_validate({**fields, "usage": Usage(cached=True), "attempt": attempt})


def _entry(answer: StepOutcome | AgentTurn) -> dict[str, Any]:
    if isinstance(answer, AgentTurn):
        return {"turn": answer.model_dump(mode="json", exclude={"attempt"})}
    return {
        "output": answer.output,
        "extras": answer.extras,
        "usage": answer.usage.model_dump(mode="json") if answer.usage else None,
    }


def cached(kind: str, result: type[R]) -> Callable[[Method[S, Q, R]], Method[S, Q, R]]:
    """Put a model activity method behind the step cache (``kind``: ``llm``, ``embed``,
    ``agent``; ``result``: what the activity returns, a step outcome or an agent turn)."""

    def wrap(method: Method[S, Q, R]) -> Method[S, Q, R]:
        @functools.wraps(method)
        async def run(self: S, request: Q) -> R:
            use = getattr(request.step, "cache", None)
            if use is None:
                return await method(self, request)
            step_id = request.step.id
            key = step_key(kind, request)
            entry = await self.step_cache.lookup(step_id, key)
            hit = _answer(result, entry) if entry is not None else None
            if hit is not None:
                activity.logger.info("%s: answered from the step cache", step_id)
                return hit
            answer = await method(self, request)
            await self.step_cache.keep(step_id, key, _entry(answer), use.ttl_s)
            return answer

        return run

    return wrap
