"""Spending caps: the `budget` of a run and of a model step, and the one rule for both.

A budget is checked *before* a model call, against what was spent so far (the run's
totals for the run's budget, the step's own usage for a step's), so a single call can
overshoot it; the next one does not start. When it is exceeded, ``on_exceed`` says what
happens: ``fail``, or ``pause`` until a person approves a raised limit (the ``approve``
Update with ``data: {"max_usd": ..., "max_tokens": ...}``) or rejects it. Pure: the
workflow (``interpreter.workflow``) does the waiting.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import Field

from interpreter.contract import Usage
from interpreter.fields import LanguageModel

__all__ = ["Budget", "Budgeted", "OnExceed", "overrun", "raised_limit", "suggested_limit"]

OnExceed = Literal["fail", "pause"]
_LIMITS = ("max_usd", "max_tokens")


class Budget(LanguageModel):
    """A spending cap. No model call starts once it is exceeded; then ``on_exceed``."""

    max_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    on_exceed: OnExceed = Field(
        default="fail",
        description="`fail`, or `pause` until a person approves a raised limit "
        "(`approve ... --data '{\"max_usd\": 2}'`) or rejects it.",
    )


class Budgeted(LanguageModel):
    """The `budget` field of a step kind that spends tokens (llm, embed, agent, and the
    kinds that run bodies again and again: map, loop)."""

    budget: Budget | None = Field(
        default=None,
        description="This step's cap, on its own usage (a map/loop step: its body runs' "
        "usage), checked before each model call or body run it starts.",
    )


def overrun(budget: Budget | None, spent: Usage, *, name: str = "budget") -> str | None:
    """How ``spent`` is over ``budget`` in words (``spent $0.31 of budget.max_usd $0.25``),
    or ``None`` when it is within it."""
    if budget is None:
        return None
    tokens = spent.input_tokens + spent.output_tokens
    over = []
    if budget.max_usd is not None and spent.cost_usd > budget.max_usd:
        over.append(f"spent ${spent.cost_usd:.6f} of {name}.max_usd ${budget.max_usd:g}")
    if budget.max_tokens is not None and tokens > budget.max_tokens:
        over.append(f"used {tokens} tokens of {name}.max_tokens {budget.max_tokens}")
    return "; ".join(over) or None


def raised_limit(budget: Budget, spent: Usage, data: Any) -> Budget | str:
    """The budget an approval's ``data`` raises ``budget`` to, or why it cannot (the
    Update's validator rejects it with that message). ``data`` names ``max_usd`` and/or
    ``max_tokens``; each must be above what is spent, and together they must bring the
    spending back within the budget."""
    example = f"--data '{json.dumps(suggested_limit(budget, spent))}'"
    if not isinstance(data, dict) or not data:
        return f"approving a budget needs a new limit in `data`, e.g. {example}"
    unknown = sorted(set(data) - set(_LIMITS))
    if unknown:
        return f"unknown budget field(s) {', '.join(unknown)} in `data` (give max_usd, max_tokens)"
    tokens = spent.input_tokens + spent.output_tokens
    for key, used in (("max_usd", spent.cost_usd), ("max_tokens", tokens)):
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"`{key}` must be a number, not {value!r}"
        if value <= used:
            shown = f"${used:.6f}" if key == "max_usd" else f"{used} tokens"
            return f"the new `{key}` {value:g} is not above what is spent ({shown}); e.g. {example}"
        if key == "max_tokens" and not float(value).is_integer():
            return f"`max_tokens` must be a whole number, not {value!r}"
    new = budget.model_copy(
        update={k: (int(v) if k == "max_tokens" else float(v)) for k, v in data.items()}
    )
    still = overrun(new, spent)
    if still is not None:
        return f"still over with that limit ({still}); raise it too, e.g. {example}"
    return new


def suggested_limit(budget: Budget, spent: Usage) -> dict[str, float | int]:
    """A raised limit to show in the pause message: twice what is spent, per limit set."""
    suggestion: dict[str, float | int] = {}
    if budget.max_usd is not None:
        suggestion["max_usd"] = float(f"{max(spent.cost_usd, budget.max_usd) * 2:.2g}")
    if budget.max_tokens is not None:
        tokens = spent.input_tokens + spent.output_tokens
        suggestion["max_tokens"] = max(tokens, budget.max_tokens) * 2
    return suggestion
