"""The one budget rule (`interpreter/budgets.py`): when spending is over, and which raised
limits an approval may give (what the `approve` Update's validator says)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from interpreter.budgets import Budget, overrun, raised_limit
from interpreter.contract import Usage
from interpreter.errors import WorkflowDefinitionError
from interpreter.loader import load_definition

SPENT = Usage(input_tokens=300, output_tokens=100, cost_usd=0.5)


def test_overrun_names_spent_and_limit_for_each_limit_exceeded() -> None:
    budget = Budget(max_usd=0.25, max_tokens=1000)
    assert overrun(budget, SPENT) == "spent $0.500000 of budget.max_usd $0.25"
    assert overrun(Budget(max_tokens=399), SPENT, name="step budget") == (
        "used 400 tokens of step budget.max_tokens 399"
    )
    assert overrun(Budget(max_usd=0.5, max_tokens=400), SPENT) is None  # at the limit is within
    assert overrun(None, SPENT) is None


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "approving a budget needs a new limit in `data`, e.g. --data '{\"max_usd\": 1.0}'"),
        ({"max_dollars": 3}, "unknown budget field(s) max_dollars"),
        ({"max_usd": "lots"}, "`max_usd` must be a number"),
        ({"max_usd": 0.5}, "the new `max_usd` 0.5 is not above what is spent ($0.500000)"),
        ({"max_usd": True}, "`max_usd` must be a number"),
    ],
)
def test_a_raise_not_above_spent_is_refused_with_a_reason(data: object, problem: str) -> None:
    result = raised_limit(Budget(max_usd=0.25, on_exceed="pause"), SPENT, data)
    assert isinstance(result, str)
    assert problem in result


def test_a_raise_that_leaves_another_limit_over_is_refused() -> None:
    budget = Budget(max_usd=0.25, max_tokens=200, on_exceed="pause")
    result = raised_limit(budget, SPENT, {"max_usd": 2})
    assert isinstance(result, str)
    assert "still over with that limit (used 400 tokens of budget.max_tokens 200)" in result


def test_an_accepted_raise_keeps_the_rest_of_the_budget() -> None:
    budget = Budget(max_usd=0.25, max_tokens=5000, on_exceed="pause")
    assert raised_limit(budget, SPENT, {"max_usd": 2}) == Budget(
        max_usd=2.0, max_tokens=5000, on_exceed="pause"
    )


def test_budget_fields_are_validated_where_they_are_written() -> None:
    with pytest.raises(WorkflowDefinitionError) as bad:
        load_definition(
            {"name": "x", "steps": [{"id": "a", "type": "llm", "prompt": "p",
                                     "budget": {"on_exceed": "wait"}}]}
        )  # fmt: skip
    assert "step `a`, field `budget`: Input should be 'fail' or 'pause' (got 'wait')" in str(
        bad.value
    )
    with pytest.raises(WorkflowDefinitionError) as other:  # a step that spends nothing
        load_definition(
            {"name": "x", "steps": [{"id": "b", "type": "wait", "duration": "1s",
                                     "budget": {"max_usd": 1}}]}
        )  # fmt: skip
    assert "step `b`: unknown field `budget`" in str(other.value)
    with pytest.raises(ValidationError):
        Budget(max_usd=0)
