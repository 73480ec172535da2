"""Branches: only the chosen case runs; the rest is skipped and skipping propagates."""

from __future__ import annotations

import pytest

from interpreter.dag import Dag
from interpreter.loader import load_text
from interpreter.scheduler import Scheduler, Status
from tests.helpers.scheduling import simulate

MODERATION = """\
name: moderation
steps:
  - id: classify
    type: action
    action: log
  - id: route
    type: branch
    depends_on: [classify]
    condition: steps.classify.output
    branches:
      safe:
        - id: publish
          type: action
          action: publish
      review: [queue_review]
      block:
        - id: explain
          type: action
          action: log
        - id: notify
          type: action
          action: log
          depends_on: [explain]
    default:
      - id: fallback
        type: action
        action: log
  - id: queue_review
    type: action
    action: queue_review
  - id: record
    type: action
    action: log
    depends_on: [publish, queue_review, notify, fallback]
    trigger_rule: one_success
  - id: audit
    type: action
    action: log
    depends_on: [record]
    trigger_rule: all_done
  - id: strict
    type: action
    action: log
    depends_on: [publish]
"""


@pytest.mark.parametrize(
    ("case", "ran", "skipped"),
    [
        ("safe", {"publish"}, {"queue_review", "explain", "notify", "fallback"}),
        ("review", {"queue_review"}, {"publish", "explain", "notify", "fallback"}),
        ("block", {"explain", "notify"}, {"publish", "queue_review", "fallback"}),
        ("default", {"fallback"}, {"publish", "queue_review", "explain", "notify"}),
    ],
)
def test_only_the_chosen_case_runs(case: str, ran: set[str], skipped: set[str]) -> None:
    run = simulate(MODERATION, choices={"route": case})
    statuses = run.statuses()
    assert {s for s in ran if statuses[s] == "completed"} == ran
    assert {s for s, v in statuses.items() if v == "skipped"} - {"strict"} == skipped
    assert statuses["route"] == statuses["record"] == statuses["audit"] == "completed"
    # a plain all_success dependent of an unchosen case is skipped with it
    assert statuses["strict"] == ("completed" if case == "safe" else "skipped")


def test_skip_reason_names_the_choice() -> None:
    run = simulate(MODERATION, choices={"route": "safe"})
    for step in ("queue_review", "explain", "notify", "fallback"):
        assert run.scheduler.steps[step].reason == "branch `route` chose `safe`"


def test_unmatched_choice_skips_every_case_and_one_success_joins() -> None:
    # the interpreter maps an unmatched value to `default` when there is one; without
    # one, the value itself is the choice and no case matches
    run = simulate(
        MODERATION.replace(
            "    default:\n      - id: fallback\n        type: action\n        action: log\n", ""
        ).replace(", fallback]", "]"),
        choices={"route": "unknown"},
    )
    statuses = run.statuses()
    assert statuses["route"] == "completed"
    assert {s for s, v in statuses.items() if v == "skipped"} == {
        "publish", "queue_review", "explain", "notify", "record", "strict",
    }  # fmt: skip
    assert statuses["audit"] == "completed"  # all_done still runs


def test_id_referenced_targets_wait_for_the_choice() -> None:
    s = Scheduler(Dag.build(load_text(MODERATION)))
    assert s.initial().start == ["classify"]
    s.running("classify")
    assert s.finish("classify", Status.COMPLETED).start == ["route"]
    s.running("route")  # queue_review has no depends_on but must wait for the branch
    assert s.status["queue_review"] == Status.PENDING
    decision = s.choose("route", "review")
    assert decision.start == ["queue_review"]
    assert {step for step, _ in decision.skipped} >= {"publish", "explain", "fallback"}


def test_branch_with_only_referenced_steps_finishes_at_the_choice() -> None:
    text = """\
name: b
steps:
  - id: pick
    type: branch
    condition: "'a'"
    branches:
      a: [step_a]
      b: [step_b]
  - id: step_a
    type: action
    action: log
  - id: step_b
    type: action
    action: log
"""
    s = Scheduler(Dag.build(load_text(text)))
    assert s.initial().start == ["pick"]
    s.running("pick")
    decision = s.choose("pick", "b")
    assert decision.finished == [("pick", Status.COMPLETED)]
    assert decision.start == ["step_b"]
    assert decision.skipped == [("step_a", "branch `pick` chose `b`")]


def test_skipped_branch_skips_every_case() -> None:
    text = MODERATION.replace(
        "    depends_on: [classify]\n    condition",
        '    depends_on: [classify]\n    when: "false"\n    condition',
    )
    s = Scheduler(Dag.build(load_text(text)))
    s.initial()
    s.running("classify")
    s.finish("classify", Status.COMPLETED)
    decision = s.finish("route", Status.SKIPPED, "`when` was false")
    skipped = {step for step, _ in decision.skipped}
    assert {"publish", "queue_review", "explain", "notify", "fallback", "strict"} <= skipped


INLINE_AND_NAMED = """\
name: inline-and-named
steps:
  - id: route
    type: branch
    condition: inputs.kind
    branches:
      a:
        - id: shared
          type: action
          action: log
      b: [shared]
      c:
        - id: only_c
          type: action
          action: log
    default: [shared]
"""


@pytest.mark.parametrize(
    ("choice", "runs", "skipped"),
    [
        ("a", {"route", "shared"}, {"only_c"}),
        ("b", {"route", "shared"}, {"only_c"}),
        ("default", {"route", "shared"}, {"only_c"}),
        ("c", {"route", "only_c"}, {"shared"}),
    ],
)
def test_an_inline_step_also_named_by_id_runs_for_every_case_that_lists_it(
    choice: str, runs: set[str], skipped: set[str]
) -> None:
    run = simulate(INLINE_AND_NAMED, choices={"route": choice})
    assert {s for s, v in run.statuses().items() if v == "completed"} == runs
    assert {s for s, v in run.statuses().items() if v == "skipped"} == skipped
