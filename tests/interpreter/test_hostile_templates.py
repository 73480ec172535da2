"""Template bombs fail their step in well under a second; the worker's other runs go on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowFailureError

from interpreter.templates import TemplateFailure, render_value
from tests.helpers.runs import run_to_end, start_run

BOMBS = [
    "{% for i in range(10**8) %}x{% endfor %}",
    "{{ (10**(10**8))|string|length }}",
    "{{ 'x' * 10**9 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{{ f(n+1) }}{{ f(n+1) }}{% endmacro %}{{ f(1) }}",
    "{{ 'x'.ljust(1000000000) }}",
    "{{ 'x'|center(1000000000) }}",
    "{{ '%1000000000s' % 'x' }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{% for i in range(99999) %}{{ 'y' * 100 }}{% endfor %}",
]


@pytest.mark.parametrize("bomb", BOMBS)
def test_each_bomb_fails_fast_with_a_reason(bomb: str) -> None:
    # CPU time of this thread, not wall-clock: a busy machine stretches the second, not the work
    started = time.thread_time()
    with pytest.raises(TemplateFailure) as caught:
        render_value(bomb, {})
    assert time.thread_time() - started < 0.5
    assert "too costly" in str(caught.value) or "Range too big" in str(caught.value)


def test_a_long_value_is_passed_on_whole() -> None:
    """The output limit bounds what a template builds, not what it hands on unchanged."""
    big = "x" * 10_000_000
    assert render_value("{{ steps.a.output }}", {"steps": {"a": {"output": big}}}) is big


def test_ordinary_templates_still_render() -> None:
    source = "{% for x in items %}{{ x }},{% endfor %} {{ 2**10 }} {{ 'ab' * 3 }} {{ '%05d' % 42 }}"
    assert render_value(source, {"items": [1, 2, 3]}) == "1,2,3, 1024 ababab 00042"
    assert len(render_value("{{ range(100000)|list|join(',') }}", {})) == 588889


BOMB_FILE = """\
name: bomb
steps:
  - id: boom
    type: transform
    template: "{{ (10**(10**8))|string|length }}"
"""
LOOP_IN_WHEN = """\
name: bomb-when
steps:
  - id: boom
    type: transform
    when: "range(100000)|map('string')|join|length * 10**(10**8) > 1"
    template: never
"""
NORMAL_FILE = """\
name: normal
steps:
  - {id: a, type: transform, template: "a"}
  - {id: b, type: transform, template: "{{ steps.a.output }}b", depends_on: [a]}
  - {id: c, type: transform, template: "{{ steps.b.output }}c", depends_on: [b]}
outputs:
  text: "{{ steps.c.output }}"
"""


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("bomb", [BOMB_FILE, LOOP_IN_WHEN])
async def test_a_bomb_fails_its_run_and_a_run_beside_it_is_not_slowed(
    client: Client, task_queue: str, worker_for: Any, bomb: str
) -> None:
    normal = {"definition": yaml.safe_load(NORMAL_FILE), "inputs": {}}
    async with worker_for():
        await run_to_end(client, task_queue, normal)  # warm up
        began = time.monotonic()
        await run_to_end(client, task_queue, normal)
        alone = time.monotonic() - began

        handle = await start_run(client, task_queue, {"definition": yaml.safe_load(bomb)})
        began = time.monotonic()
        beside = await run_to_end(client, task_queue, normal)
        together = time.monotonic() - began
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(handle.result(), timeout=30)
    assert beside.outputs == {"text": "abc"}
    assert "too costly" in str(caught.value.cause)
    assert together < max(2 * alone, alone + 0.5), (alone, together)


def test_the_handlebars_translation_is_linear() -> None:
    """32 KB of unclosed `{{ this ` took 31 s (a quadratic regex); now well under a second."""
    from interpreter.handlebars import to_jinja

    for source in ("{{ this " * 4000, "{{#each x}}" * 4000, "{{{ " * 8000 + "}}"):
        started = time.thread_time()  # the work done, whatever else the machine is doing
        to_jinja(source)
        assert time.thread_time() - started < 0.5
    assert to_jinja("{{{raw}}} {{#each xs}}{{this}}{{/each}}") == (
        "{{ raw }} {% for __key, this in _hb_pairs(xs) %}{{ this }}{% endfor %}"
    )
