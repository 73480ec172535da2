"""The `cache` field of model steps and `defaults.cache`: validation, which steps are cached,
and what the activity's key is made of (pure, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from activities.cache import step_key
from interpreter.caching import DEFAULT_TTL_SECONDS, cache_use
from interpreter.fields import CacheOptions, Defaults
from interpreter.loader import load_text
from interpreter.steps import RunFacts, kind_of
from interpreter.steps.llm import LlmRequest
from tests.helpers.problems import load_problems

HEAD = "name: w\ninputs:\n  doc: {type: string}\n"


def _problems(text: str) -> list[str]:
    return load_problems(HEAD + text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "steps:\n  - {id: a, type: llm, prompt: hi, cache: {ttl: soon}}\n",
            "w.yaml:5:49: step `a`, field `cache`: cannot read duration",
        ),
        ("steps:\n  - {id: a, type: llm, prompt: hi, cache: {size: 3}}\n", "`size`"),
        (
            "steps:\n  - {id: a, type: embed, input: hi, cache: maybe}\n",
            "field `cache`: Input should be a valid boolean",
        ),
        (
            "steps:\n  - {id: a, type: llm, prompt: hi, cache: {key: '{{ steps.nope.output }}'}}\n",
            "unknown step `nope`",
        ),
        (
            "defaults: {cache: {key: '{{ inputs.doc }}'}}\n"
            "steps:\n  - {id: a, type: llm, prompt: hi}\n",
            "`defaults.cache` cannot have a `key`",
        ),
    ],
)
def test_bad_cache_fields_are_located_errors(text: str, expected: str) -> None:
    problems = _problems(text)
    assert any(expected in p for p in problems), problems


def _request(step: str, defaults: str = "", *, offline: bool = False, **rendered: Any) -> Any:
    definition = load_text(HEAD + defaults + "steps:\n" + step, "w.yaml")
    node = definition.steps[0]
    kind = kind_of(node)
    sources = kind.template_sources(node)
    facts = RunFacts(defaults=definition.defaults, offline=offline, workflow_id="w", run_id="r")
    call = kind.call(node, {**sources, **rendered}, facts)  # type: ignore[union-attr]
    return call.payload


@pytest.mark.parametrize(
    ("step", "defaults", "cached"),
    [
        ("  - {id: a, type: llm, prompt: hi}\n", "", False),
        ("  - {id: a, type: llm, prompt: hi, cache: true}\n", "", True),
        ("  - {id: a, type: llm, prompt: hi}\n", "defaults: {cache: true}\n", True),
        ("  - {id: a, type: llm, prompt: hi, temperature: 0}\n", "defaults: {cache: true}\n", True),
        # sampling is meant to vary: a file-wide default does not freeze it ...
        (
            "  - {id: a, type: llm, prompt: hi, temperature: 0.7}\n",
            "defaults: {cache: true}\n",
            False,
        ),
        (
            "  - {id: a, type: llm, prompt: hi}\n",
            "defaults: {cache: true, temperature: 1}\n",
            False,
        ),
        # ... the step itself may
        ("  - {id: a, type: llm, prompt: hi, temperature: 0.7, cache: true}\n", "", True),
        ("  - {id: a, type: llm, prompt: hi, cache: false}\n", "defaults: {cache: true}\n", False),
        ("  - {id: a, type: embed, input: hi}\n", "defaults: {cache: true}\n", True),
    ],
)
def test_which_steps_are_cached(step: str, defaults: str, cached: bool) -> None:
    assert (_request(step, defaults).step.cache is not None) is cached


def test_ttl_from_the_step_then_the_defaults_then_thirty_days() -> None:
    step = "  - {id: a, type: llm, prompt: hi, cache: {ttl: 2h}}\n"
    assert _request(step, "defaults: {cache: {ttl: 1d}}\n").step.cache.ttl_s == 7200
    step = "  - {id: a, type: llm, prompt: hi, cache: true}\n"
    assert _request(step, "defaults: {cache: {ttl: 1d}}\n").step.cache.ttl_s == 86400
    assert _request(step).step.cache.ttl_s == DEFAULT_TTL_SECONDS == 30 * 86400


def test_a_rendered_key_that_is_not_text_is_its_canonical_json() -> None:
    use = cache_use(CacheOptions(key="{{ inputs.doc }}"), {"key": {"b": 1, "a": [2]}}, Defaults())
    assert use is not None and use.key == '{"a":[2],"b":1}'


def _key(step: str, *, offline: bool = False, **rendered: Any) -> str:
    request: LlmRequest = _request(step, offline=offline, **rendered)
    return step_key("llm", request)


def test_the_key_is_the_rendered_request_without_what_does_not_change_the_answer() -> None:
    base = _key("  - {id: a, type: llm, prompt: hi, cache: true}\n")
    # not the step id, retry jitter or streaming
    assert base == _key(
        "  - {id: b, type: llm, prompt: hi, cache: true, stream: true, retry: {jitter: false}}\n"
    )
    # but the rendered prompt, the model, the parameters, the schema and the offline flag
    for other in (
        _key("  - {id: a, type: llm, prompt: hi, cache: true}\n", prompt="hello"),
        _key("  - {id: a, type: llm, prompt: hi, model: gpt-4o, cache: true}\n"),
        _key("  - {id: a, type: llm, prompt: hi, max_tokens: 5, cache: true}\n"),
        _key("  - {id: a, type: llm, prompt: hi, response_format: json, cache: true}\n"),
        _key("  - {id: a, type: llm, prompt: hi, cache: true}\n", offline=True),
    ):
        assert other != base


def test_a_given_key_replaces_the_request_but_not_the_offline_flag() -> None:
    step = (
        "  - {id: a, type: llm, prompt: '{{ inputs.doc }}', cache: {key: 'k-{{ inputs.doc }}'}}\n"
    )
    one = _key(step, prompt="one", cache={"key": "k-1"})
    assert one == _key(step, prompt="two", cache={"key": "k-1"})
    assert one != _key(step, prompt="one", cache={"key": "k-2"})
    assert one != _key(step, prompt="one", cache={"key": "k-1"}, offline=True)
