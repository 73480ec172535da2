"""The pure scheduler: what is ready, what is skipped, and why."""

from __future__ import annotations

import pytest

from interpreter.context import TemplateContext
from interpreter.dag import Dag
from interpreter.loader import load_text
from interpreter.scheduler import Scheduler, Status
from tests.helpers.scheduling import simulate


def _scheduler(text: str) -> Scheduler:
    return Scheduler(Dag.build(load_text(text)))


def _action(step_id: str, deps: list[str] | None = None, rule: str | None = None) -> str:
    text = f"  - id: {step_id}\n    type: action\n    action: log\n"
    if deps:
        text += f"    depends_on: [{', '.join(deps)}]\n"
    if rule:
        text += f"    trigger_rule: {rule}\n"
    return text


def _wf(*steps: str) -> str:
    return "name: t\nsteps:\n" + "".join(steps)


DIAMOND = _wf(_action("a"), _action("b", ["a"]), _action("c", ["a"]), _action("d", ["b", "c"]))


def test_ready_set_follows_dependencies() -> None:
    s = _scheduler(DIAMOND)
    assert s.initial().start == ["a"]
    s.running("a")
    assert s.finish("a", Status.COMPLETED).start == ["b", "c"]
    s.running("b")
    s.running("c")
    assert s.finish("b", Status.COMPLETED).start == []
    assert s.finish("c", Status.COMPLETED).start == ["d"]
    s.running("d")
    s.finish("d", Status.COMPLETED)
    assert s.done


def test_a_step_is_offered_once() -> None:
    s = _scheduler(DIAMOND)
    s.initial()
    s.running("a")
    s.finish("a", Status.COMPLETED)
    assert s.finish("b", Status.COMPLETED).start == []  # c is already offered, not again


def test_failure_skips_all_success_dependents_transitively() -> None:
    s = _scheduler(_wf(_action("a"), _action("b", ["a"]), _action("c", ["b"]), _action("x")))
    s.initial()
    s.running("a")
    decision = s.finish("a", Status.FAILED)
    assert decision.skipped == [
        ("b", "dependency `a` was failed"),
        ("c", "dependency `b` was skipped"),
    ]
    assert s.status["x"] == Status.PENDING


@pytest.mark.parametrize(
    ("a_status", "rule", "expected"),
    [
        (Status.COMPLETED, "all_success", "completed"),
        (Status.FAILED, "all_success", "skipped"),
        (Status.COMPLETED, "one_success", "completed"),
        (Status.FAILED, "one_success", "completed"),  # b still succeeded
        (Status.FAILED, "all_done", "completed"),
    ],
)
def test_trigger_rules(a_status: Status, rule: str, expected: str) -> None:
    text = _wf(_action("a"), _action("b"), _action("join", ["a", "b"], rule))
    run = simulate(text, failures={"a"} if a_status == Status.FAILED else set())
    assert run.status("join") == expected


def test_one_success_waits_for_every_dependency() -> None:
    s = _scheduler(_wf(_action("a"), _action("b"), _action("join", ["a", "b"], "one_success")))
    s.initial()
    s.running("a")
    s.running("b")
    assert s.finish("a", Status.COMPLETED).start == []
    assert s.finish("b", Status.FAILED).start == ["join"]


def test_one_success_skips_when_nothing_succeeded() -> None:
    text = _wf(_action("a"), _action("b"), _action("join", ["a", "b"], "one_success"))
    run = simulate(text, failures={"a", "b"})
    assert run.status("join") == "skipped"
    reason = run.scheduler.steps["join"].reason
    assert reason == "no dependency completed (trigger_rule one_success)"


def test_all_done_runs_after_skipped_dependencies() -> None:
    text = _wf(_action("a"), _action("b", ["a"]), _action("cleanup", ["b"], "all_done"))
    run = simulate(text, failures={"a"})
    assert run.statuses() == {"a": "failed", "b": "skipped", "cleanup": "completed"}


GROUP = (
    """\
name: g
steps:
  - id: fan
    type: parallel
    max_concurrency: 2
    steps:
"""
    + "".join(f"      - id: w{i}\n        type: action\n        action: log\n" for i in range(6))
    + _action("after", ["fan"])
)


def test_parallel_group_runs_children_then_finishes() -> None:
    s = _scheduler(GROUP.replace("    max_concurrency: 2\n", ""))
    assert s.initial().start == ["fan"]
    assert s.running("fan").start == [f"w{i}" for i in range(6)]
    for i in range(5):
        s.running(f"w{i}")
        assert s.finish(f"w{i}", Status.COMPLETED).start == []
    s.running("w5")
    decision = s.finish("w5", Status.COMPLETED)
    assert decision.finished == [("fan", Status.COMPLETED)]
    assert decision.start == ["after"]


def test_max_concurrency_is_never_exceeded() -> None:
    run = simulate(GROUP)
    assert run.max_running == {"fan": 2}
    assert set(run.statuses().values()) == {"completed"}


def test_max_concurrency_applies_per_group_when_nested() -> None:
    text = (
        """\
name: n
steps:
  - id: outer
    type: parallel
    max_concurrency: 3
    steps:
      - id: inner
        type: parallel
        max_concurrency: 1
        steps:
"""
        + "".join(
            f"          - id: i{i}\n            type: action\n            action: log\n"
            for i in range(4)
        )
        + "".join(
            f"      - id: o{i}\n        type: action\n        action: log\n" for i in range(4)
        )
    )
    run = simulate(text)
    assert run.max_running["inner"] == 1
    assert run.max_running["outer"] <= 2  # `inner` itself takes one of outer's three slots
    assert run.status("outer") == "completed"


def test_skipped_group_skips_its_children() -> None:
    text = (
        _wf(_action("a"))
        + """\
  - id: fan
    type: parallel
    depends_on: [a]
    steps:
      - id: c1
        type: action
        action: log
"""
    )
    run = simulate(text, failures={"a"})
    assert run.statuses() == {"a": "failed", "fan": "skipped", "c1": "skipped"}
    assert run.scheduler.steps["c1"].reason == "`fan` was skipped"


def test_a_reused_step_counts_as_completed_for_trigger_rules_and_templates() -> None:
    s = _scheduler(
        _wf(
            _action("a"),
            _action("b", ["a"]),
            _action("c", ["a"], rule="one_success"),
            _action("d", ["b", "c"]),
        )
    )
    assert s.initial().start == ["a"]
    s.running("a")
    decision = s.reuse("a", "old output", note="reused from run r1")
    assert decision.start == ["b", "c"] and decision.skipped == []
    record = s.records()["a"]
    assert (record.status, record.output, record.usage) == ("reused", "old output", None)
    assert record.reason == "reused from run r1"
    context = TemplateContext({}, s, {}).for_step("b")
    assert context["steps"]["a"]["status"] == "completed"  # conditions read it as before
    s.running("b")
    s.running("c")
    transcript = {"messages": [{"role": "user", "content": "hi"}], "turns": []}
    s.reuse("b", 1, note="", transcript=transcript)  # an agent's reused transcript stays
    assert s.records()["b"].transcript == transcript
    assert s.finish("c", Status.COMPLETED).start == ["d"]
