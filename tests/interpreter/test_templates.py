"""Rendering: text, native values for single expressions, strict names, the sandbox."""

from __future__ import annotations

import pytest

from interpreter.templates import (
    TemplateFailure,
    check_syntax,
    evaluate,
    reads,
    render,
    render_value,
)

CONTEXT = {
    "inputs": {"name": "Ada", "count": 3, "tags": ["a", "b"], "flag": False, "meta": None},
    "steps": {
        "search": {"output": [{"id": "d1", "score": 0.9}], "status": "completed"},
        "split": {"items": ["x", "y"], "keys": "k", "output": ["x", "y"], "status": "completed"},
    },
}


def test_render_text() -> None:
    assert render("Hello {{ inputs.name }}, {{ inputs.count + 1 }}!", CONTEXT) == "Hello Ada, 4!"


def test_data_prints_as_json_booleans_lowercase_and_null_empty() -> None:
    text = "{{ inputs.tags }} {{ inputs.flag }} [{{ inputs.meta }}] {{ steps.search.output }}"
    assert render(text, CONTEXT) == '["a", "b"] false [] [{"id": "d1", "score": 0.9}]'


def test_single_expression_keeps_its_type() -> None:
    assert render_value("{{ inputs.count }}", CONTEXT) == 3
    assert render_value("  {{ steps.search.output }} ", CONTEXT) == [{"id": "d1", "score": 0.9}]
    assert render_value("{{ inputs.flag }}", CONTEXT) is False
    assert render_value("{{ inputs.meta }}", CONTEXT) is None


def test_mixed_text_renders_as_text() -> None:
    assert render_value("n={{ inputs.count }}", CONTEXT) == "n=3"
    assert render_value("{{ inputs.count }}{{ inputs.count }}", CONTEXT) == "33"


def test_render_value_walks_lists_and_mappings() -> None:
    value = {"who": "{{ inputs.name }}", "n": ["{{ inputs.count * 2 }}", 7, "plain"]}
    assert render_value(value, CONTEXT) == {"who": "Ada", "n": [6, 7, "plain"]}


def test_keys_win_over_dict_methods() -> None:
    # `items`, `keys`, `values` ... are common output names; they must not be dict methods
    assert render_value("{{ steps.split.items }}", CONTEXT) == ["x", "y"]
    assert render("{{ steps.split.keys }}", CONTEXT) == "k"
    assert render("{{ steps.split.items | length }}", CONTEXT) == "2"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ nope }}", "'nope' is undefined"),
        ("{{ inputs.nmae }}", "has no attribute 'nmae'"),
        ("{{ steps.missing.output }}", "has no attribute 'missing'"),
    ],
)
def test_undefined_names_fail_loudly(template: str, message: str) -> None:
    with pytest.raises(TemplateFailure, match=message):
        render(template, CONTEXT)
    with pytest.raises(TemplateFailure, match="undefined"):
        render_value(template, CONTEXT)


def test_default_filter_is_the_way_to_make_a_value_optional() -> None:
    assert render("{{ inputs.nope | default('n/a') }}", CONTEXT) == "n/a"


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__ }}",
        "{{ render.__globals__ }}",
        "{% set _ = inputs.tags.append('z') %}",
        "{{ inputs.tags.pop() }}",
    ],
)
def test_sandbox_blocks_internals_and_mutation(template: str) -> None:
    with pytest.raises(TemplateFailure):
        render(template, CONTEXT)
    assert CONTEXT["inputs"]["tags"] == ["a", "b"]


def test_evaluate_returns_python_values() -> None:
    assert evaluate("inputs.count > 2 and not inputs.flag", CONTEXT) is True
    assert evaluate("inputs.tags | length", CONTEXT) == 2
    with pytest.raises(TemplateFailure, match="undefined"):
        evaluate("inputs.nope", CONTEXT)


def test_runtime_errors_become_template_failures() -> None:
    with pytest.raises(TemplateFailure, match="ZeroDivisionError"):
        render("{{ inputs.count / 0 }}", CONTEXT)


def test_syntax_errors_are_found_without_rendering() -> None:
    assert check_syntax("Hello {{ inputs.name }}") is None
    assert "syntax error at template line 2" in (check_syntax("a\n{{ inputs.name ") or "")
    assert check_syntax("inputs.a ==", expression=True) is not None
    assert check_syntax("{{#each x}}{{/each}}") is None


def test_static_analysis_finds_roots_and_steps() -> None:
    source = (
        "{{ steps.a.out }} {{ outputs['b'] }} {{#each steps.c.list}}{{this.x}}{{/each}} {{ q }}"
    )
    assert reads(source).steps == {"a", "b", "c"}
    assert reads(source).names == {"steps", "outputs", "q"}
