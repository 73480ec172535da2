"""Handlebars blocks from original-format prompts render as Handlebars would."""

from __future__ import annotations

import pytest

from interpreter.templates import TemplateFailure, render, to_jinja

DOCS = [
    {"title": "Intro", "score": 0.91, "metadata": {"text": "Temporal is durable."}, "tags": ["a"]},
    {"title": "Retries", "score": 0.5, "metadata": {"text": "Activities retry."}, "tags": []},
]
CONTEXT = {
    "query": "what is it?",
    "inputs": {"query": "what is it?", "mode": "fast", "n": 3, "on": True, "off": False},
    "steps": {"search": {"results": DOCS, "output": DOCS}},
}


def _r(template: str) -> str:
    return render(template, CONTEXT)


def test_each_with_index_and_this_fields() -> None:
    template = (
        "{{#each steps.search.results}}[{{@index}}] {{this.metadata.text}} ({{this.score}})\n"
        "{{/each}}"
    )
    assert _r(template) == "[0] Temporal is durable. (0.91)\n[1] Activities retry. (0.5)\n"


def test_bare_names_inside_each_read_the_item() -> None:
    template = "{{#each steps.search.results}}{{title}}: {{metadata.text}};{{/each}}"
    assert _r(template) == "Intro: Temporal is durable.;Retries: Activities retry.;"


def test_bare_name_inside_each_falls_back_to_the_root() -> None:
    assert _r("{{#each steps.search.results}}{{query}}|{{/each}}") == "what is it?|what is it?|"


def test_dot_and_parent_paths() -> None:
    assert (
        _r("{{#each inputs}}{{@key}}={{.}} {{/each}}")
        == "query=what is it? mode=fast n=3 on=true off=false "
    )
    assert _r("{{#each steps.search.results}}{{../inputs.mode}}{{/each}}") == "fastfast"


def test_first_and_last() -> None:
    template = (
        "{{#each steps.search.results}}{{#if @first}}<{{/if}}"
        "{{title}}{{#if @last}}>{{else}}, {{/if}}{{/each}}"
    )
    assert _r(template) == "<Intro, Retries>"


def test_if_else_and_unless() -> None:
    assert _r("{{#if inputs.on}}yes{{else}}no{{/if}}") == "yes"
    assert _r("{{#if inputs.off}}yes{{else}}no{{/if}}") == "no"
    assert _r("{{#unless inputs.off}}shown{{/unless}}") == "shown"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{#if (eq inputs.mode "fast")}}F{{else}}S{{/if}}', "F"),
        ("{{#if (ne inputs.mode 'fast')}}F{{else}}S{{/if}}", "S"),
        ("{{#if (gt inputs.n 2)}}big{{/if}}", "big"),
        ("{{#if (and inputs.on (lt inputs.n 5))}}both{{/if}}", "both"),
        ("{{#if (or inputs.off (not inputs.on))}}x{{else}}neither{{/if}}", "neither"),
        ("{{len steps.search.results}}", "2"),
        ("{{eq inputs.mode 'fast'}}", "true"),
    ],
)
def test_builtin_helpers(template: str, expected: str) -> None:
    assert _r(template) == expected


def test_nested_each_uses_the_inner_item_and_index() -> None:
    context = {"groups": [{"name": "g1", "items": ["a", "b"]}, {"name": "g2", "items": ["c"]}]}
    template = (
        "{{#each groups}}{{this.name}}:{{#each this.items}}{{@index}}{{this}}{{/each}};{{/each}}"
    )
    assert render(template, context) == "g1:0a1b;g2:0c;"


def test_each_over_empty_list_takes_the_else() -> None:
    assert render("{{#each xs}}{{this}}{{else}}none{{/each}}", {"xs": []}) == "none"


def test_comments_and_triple_stash() -> None:
    assert (
        _r("{{!-- internal note --}}Q: {{{inputs.query}}}{{! also dropped }}") == "Q: what is it?"
    )


def test_missing_item_field_is_an_error() -> None:
    with pytest.raises(TemplateFailure, match="'nope' is undefined"):
        _r("{{#each steps.search.results}}{{nope}}{{/each}}")


def test_plain_jinja_is_untouched() -> None:
    source = "{% for d in steps.x %}{{ d.title }}{% endfor %} Summarise this: {{ inputs.text }}"
    assert to_jinja(source) == source
