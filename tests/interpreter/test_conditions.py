"""`when`/`condition`: the original format's text rules with braces, Jinja without."""

from __future__ import annotations

import pytest

from interpreter.templates import TemplateFailure, evaluate_condition

CONTEXT = {
    "inputs": {"mode": "fast", "n": 3, "enable": True, "empty": "", "items": [1, 2]},
    "outputs": {"moderate": "safe\n", "obj": {"a": 1}},
    "steps": {"moderate": {"output": "safe\n", "label": "Safe"}},
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # the rendered text is a boolean word (case-insensitive, whole string only)
        ("{{ inputs.enable }}", True),
        ("{{ 'YES' }}", True),
        ("{{ 1 }}", True),
        ("{{ 'False' }}", False),
        ("{{ 'no' }}", False),
        ("{{ 0 }}", False),
        ("{{ inputs.empty }}", False),
        ("   {{ inputs.empty }}   ", False),
        # `a == b` / `a != b` compare trimmed text; quotes come off the right side only
        ("{{ outputs.moderate }} == 'safe'", True),
        ('{{ outputs.moderate }} == "safe"', True),
        ("{{ outputs.moderate }} == safe", True),
        ("{{ outputs.moderate }} != 'safe'", False),
        ("{{ outputs.moderate }} == 'block'", False),
        ("{{ steps.moderate.label }} == 'safe'", False),  # case-sensitive
        ("'{{ inputs.mode }}' == 'fast'", False),  # left quotes stay
        ("{{ inputs.n }} == 3", True),
        ("{{ inputs.n }} == 3.0", False),  # text, not numbers
        ("{{ inputs.mode }} == fast == x", False),  # split at the first `==`
        # anything else non-empty is true
        ("{{ inputs.n }} > 5", True),
        ("{{ outputs.obj }}", True),
        ("{{ 'null' }}", True),
        # Handlebars helpers work inside
        ('{{#if (eq inputs.mode "fast")}}true{{/if}}', True),
        ('{{#if (eq inputs.mode "slow")}}true{{/if}}', False),
    ],
)
def test_templated_condition_follows_the_original_rules(condition: str, expected: bool) -> None:
    assert evaluate_condition(condition, CONTEXT) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("inputs.enable", True),
        ("inputs.n > 2", True),
        ("inputs.n > 5", False),
        ("inputs.mode == 'fast' and inputs.n < 10", True),
        ("'safe' in outputs.moderate", True),
        ("steps.moderate.output | trim == 'safe'", True),
        ("inputs.items | length == 2", True),
        ("inputs.empty", False),
        ("inputs.enable == true", True),
    ],
)
def test_condition_without_braces_is_a_jinja_expression(condition: str, expected: bool) -> None:
    assert evaluate_condition(condition, CONTEXT) is expected


def test_undefined_names_are_errors_not_false() -> None:
    with pytest.raises(TemplateFailure):
        evaluate_condition("{{ inputs.missing }} == 'x'", CONTEXT)
    with pytest.raises(TemplateFailure):
        evaluate_condition("inputs.missing", CONTEXT)
