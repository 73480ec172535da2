"""The one ``redact()``: what logs, errors, spans and results must never show.

Everything a worker or the CLI writes passes through here: log records (the
handler filter in ``llm_orchestrator.logs``), failure messages crossing the
activity boundary (``activities._failures``), span statuses, and provider errors.
One set of rules, applied the same everywhere:

- the values of secrets this process knows, in any letter case, and their first
  12 characters (vendors echo truncated keys): keys the providers and vector stores
  read (:func:`remember_secret`) and the values of ``*_API_KEY``, ``*_SECRET``,
  ``*_SECRET_KEY``, ``*_TOKEN`` and ``*_PASSWORD`` environment variables
  (:func:`remember_env`);
- anything shaped like a key: ``sk-...``, ``sk-ant-...``;
- credentials in headers and URLs: ``Bearer <token>``, ``x-api-key: <key>``,
  ``api-key: <key>``, and the password of ``scheme://user:password@host``.

Step results are redacted too (:func:`redact_value`, applied by
``activities._failures.classified`` to every built-in step activity's outcome): a
model that echoes a key in a successful reply must not put it in the run's history.

Secrets shorter than 8 characters are not remembered: masking them would garble
ordinary text and protect nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "MASK",
    "env_secrets",
    "redact",
    "redact_value",
    "remember_env",
    "remember_secret",
]

MASK = "***"
MIN_SECRET_LENGTH = 8
_PREFIX = 12
"""Characters of a key that are masked on their own: vendors echo truncated keys."""
_SECRET_SUFFIXES = ("_API_KEY", "_SECRET", "_SECRET_KEY", "_TOKEN", "_PASSWORD")
_PATTERNS = (
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"), MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), MASK),
    (re.compile(r"\b(Bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*", re.IGNORECASE), r"\1 " + MASK),
    (
        re.compile(r"""\b((?:x-)?api-key["']?\s*[:=]\s*["']?)[^\s"',;}]{8,}""", re.IGNORECASE),
        r"\1" + MASK,
    ),
    (
        re.compile(r"\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@", re.IGNORECASE),
        r"\1" + MASK + "@",
    ),
)

# replaced, never mutated, so that readers in other threads see a whole set
_secrets: frozenset[str] = frozenset()
_compiled: tuple[frozenset[str], re.Pattern[str] | None] = (frozenset(), None)


def remember_secret(value: str | None) -> None:
    """Mask ``value`` from now on, wherever this process writes (keys read from files too)."""
    global _secrets
    if value and len(value) >= MIN_SECRET_LENGTH and value not in _secrets:
        _secrets = _secrets | {value}


def env_secrets(env: Mapping[str, str]) -> list[str]:
    """The values of the secret-named variables in ``env`` (``*_API_KEY`` and kin)."""
    return [
        value
        for name, value in env.items()
        if name.upper().endswith(_SECRET_SUFFIXES) and len(value) >= MIN_SECRET_LENGTH
    ]


def remember_env(env: Mapping[str, str]) -> None:
    """Mask the values of the secret-named variables in ``env`` from now on."""
    for value in env_secrets(env):
        remember_secret(value)


def _alternatives(secrets: Iterable[str]) -> list[str]:
    values = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
    values |= {s[:_PREFIX] for s in values if len(s) > _PREFIX}
    # longest first, so a whole key is masked before its prefix could match
    return sorted(values, key=len, reverse=True)


def _compile(secrets: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = _alternatives(secrets)
    if not alternatives:
        return None
    return re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, ``secrets`` and credential-shaped strings masked."""
    global _compiled
    known = _secrets
    if known is not _compiled[0]:  # compiled again only when a secret was added
        _compiled = (known, _compile(known))
    extra = list(secrets)
    for matcher in (_compile(extra) if extra else None, _compiled[1]):
        if matcher is not None:
            text = matcher.sub(MASK, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """``value`` (JSON-like: strings, lists, dicts, numbers) with :func:`redact` applied to
    every string in it, keys included; what activities return goes through this."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {
            redact_value(k) if isinstance(k, str) else k: redact_value(v) for k, v in value.items()
        }
    return value
