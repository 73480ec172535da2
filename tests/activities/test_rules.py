"""One source for each rule: the action list, the retryable statuses, redaction."""

from __future__ import annotations

import pytest
from temporalio import activity

from activities._failures import retryable_status, step_failure
from activities.action import HANDLERS
from activities.providers.config import ProviderSettings
from activities.providers.http import HttpEndpoint
from activities.redaction import MASK, redact, remember_secret
from interpreter.contract import BUILTIN_ACTIONS, SINK_ACTIONS


def test_every_builtin_action_has_a_handler_and_no_handler_is_unlisted() -> None:
    assert set(HANDLERS) == set(BUILTIN_ACTIONS)
    assert set(SINK_ACTIONS) <= set(BUILTIN_ACTIONS)
    assert len(BUILTIN_ACTIONS) == len(set(BUILTIN_ACTIONS))


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 529, 599])
def test_timeouts_conflicts_rate_limits_and_server_errors_are_retried(status: int) -> None:
    assert retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422])
def test_other_client_errors_are_not(status: int) -> None:
    assert not retryable_status(status)


def test_remembered_secrets_are_masked_in_any_case_and_by_their_prefix() -> None:
    key = "vendor-Key-0123456789abcdefXYZ"
    remember_secret(key)
    assert redact(f"bad key {key}.") == f"bad key {MASK}."
    assert redact(f"bad key {key.upper()}") == f"bad key {MASK}"
    assert redact(f"bad key {key[:12]}...") == f"bad key {MASK}..."
    assert redact("short ones stay: abc") == "short ones stay: abc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer ***"),
        ("authorization: bearer abcdefgh12345678", "authorization: bearer ***"),
        ("x-api-key: 0123456789abcdef", "x-api-key: ***"),
        ("{'X-Api-Key': 'zyxwvutsrq987654'}", "{'X-Api-Key': '***'}"),
        ('"api-key": "0123456789abcdef"', '"api-key": "***"'),
        ("postgresql://app:hunter2hunter2@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("calling sk-proj-Abc123Def456Ghi789Jkl now", "calling *** now"),
        ("http://127.0.0.1:8080/path", "http://127.0.0.1:8080/path"),
    ],
)
def test_credential_shapes_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_errors_crossing_the_activity_boundary_are_redacted() -> None:
    key = "provider-held-secret-" + "9" * 12
    endpoint = HttpEndpoint("vendor", ProviderSettings(base_url="http://127.0.0.1"), key)
    assert key not in str(endpoint.error(f"vendor said: bad key {key}"))
    assert not activity.in_activity()
    failure = step_failure(f"echoed {key} and Bearer abcdefgh12345678")
    assert failure.message == f"echoed {MASK} and Bearer {MASK}"
