"""The step-kind registry: every kind is registered, complete, and checked by mypy."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import interpreter.steps
from interpreter.fields import Defaults
from interpreter.steps import (
    KINDS,
    ActivityKind,
    AsyncKind,
    DecisionKind,
    GroupKind,
    PureKind,
    kind_of,
)
from interpreter.steps._kind import ActivityCall, RunFacts, Shape, StepBase

ROOT = Path(__file__).resolve().parents[2]


def test_every_step_module_is_registered() -> None:
    modules = {
        m.name
        for m in pkgutil.iter_modules(interpreter.steps.__path__)
        if not m.name.startswith("_")
    }
    assert modules == set(KINDS), "a module in interpreter/steps is not in the registry"
    for name, kind in KINDS.items():
        module = sys.modules[f"interpreter.steps.{name}"]
        assert module.KIND is kind
        assert kind.model.model_fields["type"].annotation.__args__ == (name,)  # type: ignore[union-attr]


def test_kind_of_finds_each_kind_from_its_model() -> None:
    for kind in KINDS.values():
        assert kind_of(kind.model.model_construct()) is kind  # type: ignore[arg-type]


def test_every_kind_runs_one_of_the_five_ways() -> None:
    for kind in KINDS.values():
        assert isinstance(kind, ActivityKind | GroupKind | DecisionKind | AsyncKind | PureKind)
        # every templated field exists on the model, so nothing is silently unrendered
        for name in (*kind.templated, *kind.conditions):
            assert name in kind.model.model_fields, (kind.model.__name__, name)


class _EchoStep(StepBase):
    type: str = "echo"
    text: str


def test_a_kind_that_forgets_a_part_cannot_be_created() -> None:
    class ForgotSummary(ActivityKind[_EchoStep]):
        model = _EchoStep
        templated = ("text",)
        shape: Shape = "task"

        def call(self, step: _EchoStep, rendered: dict[str, object], run: RunFacts) -> ActivityCall:
            return ActivityCall("echo", rendered)

    with pytest.raises(TypeError, match="summary"):
        ForgotSummary()  # type: ignore[abstract]


_BROKEN_KIND = """\
from collections.abc import Iterator, Mapping
from typing import Any, Literal, assert_never

from interpreter.fields import Defaults
from interpreter.steps import AnyKind, LlmStep, ParallelStep
from interpreter.steps import llm, parallel
from interpreter.steps._kind import ActivityCall, ActivityKind, RunFacts, Shape, StepBase


class EchoStep(StepBase):
    type: Literal["echo"]
    text: str


class _EchoKind(ActivityKind[EchoStep]):
    model = EchoStep
    templated = ("text",)
    shape: Shape = "task"

    def call(self, step: EchoStep, rendered: Mapping[str, Any], run: RunFacts) -> ActivityCall:
        return ActivityCall("echo", dict(rendered))


KIND = _EchoKind()  # line 24: `summary` is missing


def kind_of(step: LlmStep | ParallelStep | EchoStep) -> AnyKind:
    match step:
        case LlmStep():
            return llm.KIND
        case ParallelStep():
            return parallel.KIND
        case _:
            assert_never(step)  # line 34: EchoStep has no case
"""


@pytest.mark.timeout(300)  # a mypy run with a cold cache, as on a fresh CI machine
def test_mypy_rejects_a_new_kind_with_a_missing_part_or_registry_case(tmp_path: Path) -> None:
    """The two ways to forget something when adding a kind both fail type-checking."""
    module = tmp_path / "echo_kind.py"
    module.write_text(textwrap.dedent(_BROKEN_KIND))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(module)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    out = result.stdout
    assert result.returncode == 1, out
    assert 'echo_kind.py:24: error: Cannot instantiate abstract class "_EchoKind"' in out
    assert '"summary"' in out
    assert 'echo_kind.py:34: error: Argument 1 to "assert_never"' in out
    assert '"EchoStep"' in out


def test_summaries_read_like_the_yaml() -> None:
    from interpreter.loader import load_text

    definition = load_text(
        """\
name: s
defaults: {provider: anthropic}
steps:
  - {id: a, type: llm, prompt: hi, model: claude-3-5-haiku-latest}
  - {id: b, type: transform, function: merge, inputs: [1], depends_on: [a]}
  - id: g
    type: parallel
    steps: [{id: c, type: action, action: log}]
"""
    )
    summaries = [kind_of(s).summary(s, definition.defaults) for s in definition.steps]
    assert summaries == ["llm anthropic/claude-3-5-haiku-latest", "transform merge", "parallel"]
    assert kind_of(definition.steps[0]).summary(definition.steps[0], Defaults()) == (
        "llm default/claude-3-5-haiku-latest"
    )


def test_importing_the_package_loads_nothing_else() -> None:
    """The sandbox re-imports `interpreter` per run; eager imports there would give it its
    own copies of the step classes, and a definition parsed outside would match no kind."""
    code = (
        "import sys, interpreter; "
        "loaded = sorted(m for m in sys.modules if m.startswith('interpreter.')); "
        "print(loaded); assert not loaded, loaded; "
        "assert interpreter.load_text and interpreter.KINDS"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
