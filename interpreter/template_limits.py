"""Bounds on what one template render may cost: a template bomb fails its step, fast.

Templates render in the workflow thread, which holds the GIL: one expensive
render stalls every run on the worker. So every render gets a budget:

* **operations** — each loop iteration and each call (functions, methods, macros)
  costs one; recursion that branches, or loops nested over big data, run out;
* **output** — the rendered text, counted while it is produced;
* **sizes** — ``**`` and ``*`` refuse results that would be huge (``10**(10**8)``,
  ``'x' * 10**9``), and so do the text-padding methods and filters
  (``center``, ``ljust``, ``format`` widths ...), *before* computing them.

The built-in transform functions (:mod:`interpreter.transforms`), which run in the
workflow thread too, get a budget of their own: ``transform_work`` values visited or
built per call, checked before the work is done, and ``transform_output``.

The limits are the worker's (``LLM_ORCHESTRATOR_TEMPLATE_*``, see
``docs/configuration.md``): set them alike on every worker of a task queue, since a
run replayed on a worker with lower limits could fail where it first passed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

__all__ = [
    "CURRENT",
    "LIMITS",
    "SIZED_FILTERS",
    "Budget",
    "Limits",
    "TemplateTooCostly",
    "binop",
    "bounded",
    "check_call",
    "guard_loops",
    "sized_filter",
]


class TemplateTooCostly(Exception):
    """A render went over one of its limits."""


@dataclass(frozen=True, slots=True)
class Limits:
    operations: int = 100_000
    """Loop iterations plus calls in one render."""
    output_chars: int = 2_000_000
    """Characters one render may produce (and any single string it builds)."""
    int_digits: int = 10_000
    """Decimal digits of an integer a template may compute."""
    transform_work: int = 2_000_000
    """Values one built-in transform function call may visit or build (rows x fields,
    items x comparisons ...): keeps a call well under Temporal's 2 s deadlock limit."""
    transform_output: int = 8_000_000
    """Size of a transform's output: characters of its text plus one per value."""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Limits:
        def read(name: str, default: int) -> int:
            raw = env.get(f"LLM_ORCHESTRATOR_TEMPLATE_{name}")
            return int(raw) if raw else default

        defaults = cls()
        return cls(
            operations=read("MAX_OPERATIONS", defaults.operations),
            output_chars=read("MAX_OUTPUT", defaults.output_chars),
            int_digits=read("MAX_INT_DIGITS", defaults.int_digits),
            transform_work=read("MAX_TRANSFORM_WORK", defaults.transform_work),
            transform_output=read("MAX_TRANSFORM_OUTPUT", defaults.transform_output),
        )


LIMITS = Limits.from_env(os.environ)
"""The limits in force in this process (read once, when the worker imports this)."""


class Budget:
    """What is left of one render's budget."""

    __slots__ = ("limits", "operations")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.operations = limits.operations

    def charge(self, cost: int = 1) -> None:
        self.operations -= cost
        if self.operations < 0:
            raise TemplateTooCostly(
                f"the template did more than {self.limits.operations:,} loop iterations and "
                "calls (LLM_ORCHESTRATOR_TEMPLATE_MAX_OPERATIONS)"
            )

    def check_text(self, length: int) -> None:
        if length > self.limits.output_chars:
            raise TemplateTooCostly(
                f"the template would produce more than {self.limits.output_chars:,} characters "
                "(LLM_ORCHESTRATOR_TEMPLATE_MAX_OUTPUT)"
            )


CURRENT: ContextVar[Budget | None] = ContextVar("template_budget", default=None)


def _budget() -> Budget:
    budget = CURRENT.get()
    if budget is None:  # a render outside render()/evaluate(): give it a fresh budget
        budget = Budget(LIMITS)
        CURRENT.set(budget)
    return budget


def bounded(iterable: Iterable[Any]) -> Iterator[Any]:
    """Iterate, charging one operation per item (every ``{% for %}`` goes through this)."""
    budget = _budget()
    for item in iterable:
        budget.charge()
        yield item


def guard_loops(tree: nodes.Template) -> nodes.Template:
    """Rewrite every ``{% for x in it %}`` into ``{% for x in _bounded(it) %}``."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(
            nodes.Name("_bounded", "load", lineno=loop.lineno),
            [loop.iter],
            [],
            None,
            None,
            lineno=loop.lineno,
        )
    return tree


_SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_WIDTH = re.compile(r"%[-+ #0]*(\d+)|\{[^{}]*?:[^{}]*?(\d+)[^{}]*\}")


def check_call(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Charge a call and refuse padding to absurd widths."""
    budget = _budget()
    budget.charge()
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    name = getattr(target, "__name__", "")
    if name in _SIZED_METHODS or name in ("format", "format_map"):
        check_sizes(args, kwargs, budget)
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            check_widths(owner, budget)


def check_sizes(args: Iterable[Any], kwargs: Mapping[str, Any], budget: Budget) -> None:
    """Refuse integer arguments that ask for more text than a render may produce."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool):
            budget.check_text(value)


def sized_filter(fn: Any) -> Any:
    """A text filter (``center``, ``indent``, ``format`` ...) with its widths checked first."""

    def guarded(value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        check_sizes(args, kwargs, budget)
        if isinstance(value, str):
            check_widths(value, budget)
        return fn(value, *args, **kwargs)

    if hasattr(fn, "jinja_pass_arg"):  # keep how Jinja passes it the context, if it did
        guarded.jinja_pass_arg = fn.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


SIZED_FILTERS = ("center", "indent", "format", "wordwrap", "truncate")


def check_widths(text: str, budget: Budget | None = None) -> None:
    """Refuse ``%1000000000s``-style widths in a format string."""
    budget = budget or _budget()
    for match in _WIDTH.finditer(text):
        digits = match.group(1) or match.group(2)
        if digits and len(digits) > 7:
            budget.check_text(10**7 + 1)
        elif digits:
            budget.check_text(int(digits))


def _digits(value: int) -> float:
    return abs(value).bit_length() * math.log10(2)


def binop(operator: str, left: Any, right: Any) -> Any:
    """``**``, ``*`` and ``%`` with their results' sizes checked first."""
    budget = _budget()
    limits = budget.limits
    if operator == "**" and isinstance(left, int) and isinstance(right, int):
        if right > 0 and abs(left) > 1 and _digits(left) * right > limits.int_digits:
            raise TemplateTooCostly(
                f"`{_short(left)} ** {_short(right)}` has more than {limits.int_digits:,} "
                "digits (LLM_ORCHESTRATOR_TEMPLATE_MAX_INT_DIGITS)"
            )
        return left**right
    if operator == "**":
        return left**right
    if operator == "*":
        sequence, count = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(count, int) and isinstance(sequence, str | list | tuple):
            budget.check_text(len(sequence) * max(count, 0))
        elif (
            isinstance(left, int)
            and isinstance(right, int)
            and _digits(left) + _digits(right) > limits.int_digits
        ):
            raise TemplateTooCostly(
                f"the product has more than {limits.int_digits:,} digits "
                "(LLM_ORCHESTRATOR_TEMPLATE_MAX_INT_DIGITS)"
            )
        return left * right
    if operator == "%":
        if isinstance(left, str):
            check_widths(left, budget)
        return left % right
    raise AssertionError(f"operator {operator} is not intercepted")


def _short(value: int) -> str:
    text = str(value) if _digits(value) < 30 else f"<{int(_digits(value)) + 1}-digit number>"
    return text
