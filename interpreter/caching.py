"""Which model steps use the step cache, for how long and under which key (docs/cache.md).

The rule lives here once, for every model kind: a step's own ``cache`` wins
(``false`` turns it off); otherwise ``defaults.cache`` applies, but only to steps
whose temperature is unset or 0. Sampling at a temperature above 0 is meant to
vary from run to run; a file-wide default that silently froze the first answer
would change what such a step does, so it is cached only when the step asks.
"""

from __future__ import annotations

import json
from typing import Any

from interpreter.contract import CacheUse
from interpreter.fields import CacheField, CacheOptions, Defaults

__all__ = ["DEFAULT_TTL_SECONDS", "cache_use"]

DEFAULT_TTL_SECONDS = 30 * 86400.0
"""Thirty days: long enough to skip repeated calls across a project's runs, short
enough that a store nobody clears does not keep answers of retired models forever."""


def _ttl(value: CacheField | None) -> float | None:
    return value.ttl if isinstance(value, CacheOptions) else None


def cache_use(
    step_cache: CacheField | None,
    rendered: Any,
    defaults: Defaults,
    *,
    temperature: float | None = None,
) -> CacheUse | None:
    """The cache a model step uses, or ``None``.

    ``rendered`` is the step's ``cache`` field after template rendering (its ``key``
    rendered); ``temperature`` the step's effective one (``None`` for kinds without).
    """
    if step_cache is False:
        return None
    if step_cache is None and (not defaults.cache or (temperature or 0) > 0):
        return None
    ttl = _ttl(step_cache) or _ttl(defaults.cache) or DEFAULT_TTL_SECONDS
    key = rendered.get("key") if isinstance(rendered, dict) else None
    if key is not None and not isinstance(key, str):
        # `key: "{{ inputs.id }}"` keeps the expression's type; a key is its canonical text
        key = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return CacheUse(ttl_s=ttl, key=key)
