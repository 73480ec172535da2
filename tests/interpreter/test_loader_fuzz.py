"""Fuzz the loader: whatever a file holds, it loads or is refused with located problems.

Runs in CI with a fixed seed and budget (hypothesis, derandomized), so a failure
reproduces; the last round found `default: true` and `steps: 1` tracebacks this way.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from temporalio.client import Client, WorkflowExecutionStatus

from interpreter.errors import WorkflowDefinitionError
from interpreter.loader import load_definition, load_text
from tests.helpers.runs import start_run

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["{{ inputs.x }}", "{{ steps.a.output }}", "30s", "true", "a", "b"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "id", "type", "depends_on", "when", "condition", "timeout", "timeout_seconds", "retry",
    "output", "trigger_rule", "steps", "tasks", "branches", "default", "prompt", "messages",
    "function", "inputs", "params", "action", "max_concurrency", "response_format", "index",
    "query", "database", "input", "template",
]  # fmt: skip
TYPES = ["llm", "embed", "vector_search", "transform", "action", "parallel", "branch", "nope"]
steps = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "a-1", ""]), "type": st.sampled_from(TYPES)},
    optional={name: values for name in FIELDS if name not in ("id", "type")},
)
documents = st.fixed_dictionaries(
    {"name": st.one_of(st.text(max_size=6), values), "steps": st.lists(steps, max_size=4)},
    optional={
        "inputs": values,
        "defaults": values,
        "outputs": values,
        "timeout": values,
        "budget": values,
        "version": values,
    },
)


def _loads_or_refuses(load: Any, document: Any) -> None:
    try:
        load(document)
    except WorkflowDefinitionError as exc:
        assert exc.problems, "a refusal says what is wrong"
        for problem in exc.problems:
            assert problem.message


@seed(20261205)
@FUZZ
@given(documents)
def test_any_structure_loads_or_is_refused_with_problems(document: dict[str, Any]) -> None:
    _loads_or_refuses(lambda d: load_definition(d, "fuzz"), document)
    # the same through the text path, as a file would arrive
    _loads_or_refuses(lambda d: load_text(json.dumps(d, default=str), "fuzz.json"), document)


@seed(20261205)
@FUZZ
@given(
    st.sampled_from(EXAMPLES),
    st.lists(st.tuples(st.integers(0, 10**6), st.text(max_size=6)), min_size=1, max_size=4),
)
def test_mutated_example_files_load_or_are_refused(
    path: Path, edits: list[tuple[int, str]]
) -> None:
    text = path.read_text()
    for position, insert in edits:
        at = position % (len(text) + 1)
        text = text[:at] + insert + text[at + len(insert) :]
    _loads_or_refuses(lambda t: load_text(t, "fuzz.yaml"), text)


def test_the_two_crashes_the_last_fuzz_found() -> None:
    for doc in (
        {"name": "x", "steps": [{"id": "b", "type": "branch", "condition": "1", "default": True}]},
        {"name": "x", "steps": [{"id": "p", "type": "parallel", "steps": 1}]},
    ):
        _loads_or_refuses(lambda t: load_text(t, "fuzz.yaml"), yaml.safe_dump(doc))


def test_a_mapping_where_text_belongs_is_reported() -> None:
    """Found by the fuzzer: this used to raise a WorkflowDefinitionError with no problems."""
    doc = {"name": "0", "steps": [{"id": "a", "type": "llm", "prompt": "x", "when": {}}]}
    try:
        load_definition(doc, "fuzz")
    except WorkflowDefinitionError as exc:
        assert [p.message for p in exc.problems] == [
            "step `a`, field `when`: Input should be a valid string"
        ]
    else:
        raise AssertionError("a mapping `when` loaded")


JUNK: list[Any] = [None, True, 0, -1, 10**30, 1.5, float("inf"), "", "x", "{{ inputs.x }}",
                   "{{ (10**(10**8)) }}", [], [1, "a"], {}, {"a": {"b": []}}]  # fmt: skip


def _mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """A random edit somewhere in ``value``: replace, delete or add a key/item."""
    if isinstance(value, dict) and value and depth < 6:
        key = rng.choice(sorted(value, key=str))
        choice = rng.random()
        out = dict(value)
        if choice < 0.2:
            out.pop(key)
        elif choice < 0.4:
            out[key] = rng.choice(JUNK)
        elif choice < 0.5:
            out[rng.choice(["extra", "typo", "defualt", "steps"])] = rng.choice(JUNK)
        else:
            out[key] = _mutate(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and depth < 6:
        out_list = list(value)
        i = rng.randrange(len(out_list))
        out_list[i] = (
            _mutate(out_list[i], rng, depth + 1) if rng.random() < 0.7 else rng.choice(JUNK)
        )
        return out_list
    return rng.choice(JUNK)


@pytest.mark.asyncio(loop_scope="session")
async def test_fuzzed_start_inputs_never_leave_a_run_running(
    client: Client, task_queue: str, worker_for: Any
) -> None:
    """Whatever arrives as a start input, the run completes or fails; none stays RUNNING."""
    rng = random.Random(20261205)
    payloads: list[Any] = []
    for i in range(30):
        path = EXAMPLES[i % len(EXAMPLES)]
        start = {
            "definition": yaml.safe_load(path.read_text()),
            "inputs": json.loads(path.with_suffix(".input.json").read_text()),
            "offline": True,
        }
        payloads.append(_mutate(_mutate(start, rng), rng))
    async with worker_for():
        handles = [await start_run(client, task_queue, payload) for payload in payloads]
        deadline = time.monotonic() + 60
        for handle in handles:
            while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                assert time.monotonic() < deadline, f"{handle.id} is still RUNNING"
                await asyncio.sleep(0.2)
            status = (await handle.describe()).status
            assert status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED)
