"""The one template renderer and expression evaluator, pure and sandboxed.

Everything a workflow file renders — prompts, `when` conditions, transform
templates, outputs — goes through :func:`render` or :func:`evaluate`. Both run in
Jinja2's ``ImmutableSandboxedEnvironment`` with strict undefined variables, so a
typo fails loudly and no template can reach Python internals or mutate data.
That makes them safe to call from workflow code (deterministic, no I/O).

Handlebars blocks used by the original LLM-Orchestrator (``{{#each}}``,
``{{#if}}``, ``{{this.x}}``, ``{{@index}}``, ``{{eq a b}}`` ...) are translated to
Jinja once, by :func:`to_jinja` (``interpreter.handlebars``), before compiling.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from interpreter import handlebars, template_limits
from interpreter.handlebars import HELPERS

__all__ = [
    "FILTERS",
    "ROOT_NAMES",
    "TESTS",
    "Reads",
    "TemplateFailure",
    "check_syntax",
    "evaluate",
    "evaluate_condition",
    "is_template",
    "reads",
    "render",
    "render_value",
    "to_jinja",
]

ROOT_NAMES = frozenset({"inputs", "input", "steps", "outputs", "item", "index", "workflow"})
"""Names a template may start from; anything else is a validation error."""


class TemplateFailure(Exception):
    """A template could not be compiled or rendered; the message says why."""


def to_jinja(source: str) -> str:
    """Rewrite Handlebars constructs in ``source`` as Jinja; leave Jinja untouched."""
    return handlebars.to_jinja(source, roots=ROOT_NAMES)


# --- Jinja environment ----------------------------------------------------------------


def _to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False, default=_plain)


def _plain(value: Any) -> Any:
    """JSON for what ``json`` does not know: the run's read-only views as dicts, else text."""
    return dict(value) if isinstance(value, Mapping) else str(value)


_GLOBALS: dict[str, Callable[..., Any]] = {**HELPERS, "_hb_json": _to_json}


def _finalize(value: Any) -> Any:
    """How a value prints inside text: JSON for data, lower-case booleans, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list | tuple):
        return _to_json(value)
    return value


class _Environment(ImmutableSandboxedEnvironment):
    """Keys before attributes, so ``steps.split.items`` is the output named ``items``.

    Jinja tries attributes first, which turns a data key that shares a name with a
    dict method (``items``, ``keys``, ``values``, ``get``, ``copy`` ...) into the bound
    method; workflow data is JSON, so its keys are what a template means.
    """

    intercepted_binops = frozenset({"**", "*", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return template_limits.binop(operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        template_limits.check_call(__obj, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


def _make_env() -> ImmutableSandboxedEnvironment:
    env = _Environment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize
    )
    env.globals.update(_GLOBALS)
    env.globals["_bounded"] = template_limits.bounded
    for name in template_limits.SIZED_FILTERS:
        env.filters[name] = template_limits.sized_filter(env.filters[name])
    env.filters["tojson"] = _to_json
    env.filters["json"] = _to_json
    env.filters["fromjson"] = json.loads
    return env


_ENV = _make_env()
FILTERS = frozenset(_ENV.filters)
TESTS = frozenset(_ENV.tests)


@lru_cache(maxsize=2048)
def _compile_template(source: str) -> Any:
    return _ENV.from_string(template_limits.guard_loops(_ENV.parse(to_jinja(source))))


@lru_cache(maxsize=2048)
def _compile_expression(source: str) -> Any:
    return _ENV.compile_expression(to_jinja(source), undefined_to_none=False)


_SINGLE_EXPR = re.compile(r"^\s*\{\{(?!.*\{\{)(.*?)\}\}\s*$", re.DOTALL)


def is_template(value: Any) -> bool:
    """Does this string contain template syntax at all?"""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _describe(exc: Exception) -> str:
    if isinstance(exc, UndefinedError):
        return f"undefined value: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"not allowed in a template: {exc}"
    if isinstance(exc, TemplateSyntaxError):
        return f"syntax error at template line {exc.lineno}: {exc.message}"
    if isinstance(exc, template_limits.TemplateTooCostly):
        return f"too costly: {exc}"
    if isinstance(exc, RecursionError):
        return "too costly: recursion too deep (a macro that calls itself?)"
    if isinstance(exc, MemoryError):
        return "too costly: out of memory"
    return f"{type(exc).__name__}: {exc}"


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render ``source`` as text, within the render limits (:mod:`template_limits`)."""
    budget = template_limits.Budget(template_limits.LIMITS)
    token = template_limits.CURRENT.set(budget)
    try:
        chunks: list[str] = []
        length = 0
        for chunk in _compile_template(source).generate(context):
            length += len(chunk)
            budget.check_text(length)
            chunks.append(chunk)
        return "".join(chunks)
    except Exception as exc:  # whatever a template does wrong is the template's failure
        raise TemplateFailure(_describe(exc)) from None
    finally:
        template_limits.CURRENT.reset(token)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every template inside ``value`` (a string, list or mapping).

    A string that is exactly one ``{{ expression }}`` keeps the expression's type, so
    ``"{{ steps.search.output }}"`` passes a list on as a list, not as its text.
    """
    if isinstance(value, str):
        if not is_template(value):
            return value
        if "{%" not in value and _SINGLE_EXPR.match(value):
            single = _SINGLE_EXPR.match(to_jinja(value))
            if single:
                return evaluate(single.group(1), context)
        return render(value, context)
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, context) for v in value]
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a Jinja expression (no braces), e.g. ``steps.classify.output == 'safe'``."""
    token = template_limits.CURRENT.set(template_limits.Budget(template_limits.LIMITS))
    try:
        result = _compile_expression(expression.strip())(**context)
    except Exception as exc:  # whatever a template does wrong is the template's failure
        raise TemplateFailure(_describe(exc)) from None
    finally:
        template_limits.CURRENT.reset(token)
    if isinstance(result, StrictUndefined):
        raise TemplateFailure(f"undefined value in `{expression.strip()}`")
    if isinstance(result, Mapping) and not isinstance(result, dict):
        return dict(result)  # `{{ steps }}` is a live view of the run: hand out a copy
    return result


_TRUE_WORDS = {"true", "1", "yes"}
_FALSE_WORDS = {"false", "0", "no", ""}


def evaluate_condition(condition: str, context: Mapping[str, Any]) -> bool:
    """Decide a `when`/`condition`.

    Without braces it is a Jinja expression (``steps.x.output == 'safe'``). With
    braces it follows the original format: render the text, then ``true/yes/1`` and
    ``false/no/0/empty`` are booleans, ``a == b`` / ``a != b`` compare the trimmed
    sides as text (quotes around the right side dropped), anything else is true.
    """
    if not is_template(condition):
        return bool(evaluate(condition, context))
    text = render(condition, context).strip()
    lowered = text.lower()
    if lowered in _TRUE_WORDS:
        return True
    if lowered in _FALSE_WORDS:
        return False
    for op in ("==", "!="):
        if op in text:
            left, right = (part.strip() for part in text.split(op, 1))
            right = right.strip("'").strip('"')
            return (left == right) == (op == "==")
    return True


# --- static checks (used by validation) ------------------------------------------------


@lru_cache(maxsize=256)
def _parse(source: str, *, expression: bool) -> nodes.Template:
    # cached: validation asks three questions of each template; callers only read the tree
    text = to_jinja(source)
    if expression:
        text = "{{ " + text + " }}"
    return _ENV.parse(text)


def check_syntax(source: str, *, expression: bool = False) -> str | None:
    """Return a message if ``source`` does not compile, else ``None``."""
    try:
        _parse(source, expression=expression)
    except TemplateSyntaxError as exc:
        return _describe(exc)
    return None


@dataclass(frozen=True, slots=True)
class Reads:
    """What a template reads and uses, found in one walk of its tree."""

    names: frozenset[str]
    """Top-level names it does not define itself."""
    steps: frozenset[str]
    """Step ids (or output names) read through ``steps.<id>`` / ``outputs.<id>``."""
    step_fields: frozenset[tuple[str, str]]
    """``(id, name)`` for each ``steps.<id>.<name>``."""
    inputs: frozenset[str]
    """Names read through ``inputs.<name>`` / ``input.<name>``."""
    all_inputs: bool
    """``inputs`` is used as a whole too (``inputs | tojson``, ``inputs[name]`` ...)."""
    unknown_filters: frozenset[str]
    unknown_tests: frozenset[str]


def _key(node: nodes.Node) -> str | None:
    """The constant key of ``x.key`` or ``x['key']``."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        return node.arg.value if isinstance(node.arg.value, str) else None
    return None


@lru_cache(maxsize=256)
def reads(source: str, *, expression: bool = False) -> Reads:
    """Everything validation checks about a template (cached: callers only read it)."""
    tree = _parse(source, expression=expression)
    loaded: set[str] = set()
    found: set[str] = set()
    fields: set[tuple[str, str]] = set()
    inputs: set[str] = set()
    inputs_named = 0
    inputs_keyed = 0
    binds = False
    kinds = (nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Macro, nodes.CallBlock)
    for node in tree.find_all(kinds):
        if isinstance(node, nodes.Name):
            if node.ctx == "load":
                loaded.add(node.name)
                inputs_named += node.name in ("inputs", "input")
            else:
                binds = True
        elif isinstance(node, nodes.Macro | nodes.CallBlock):
            binds = True
        elif isinstance(node, nodes.Getattr | nodes.Getitem):
            target, key = node.node, _key(node)
            if key is None:
                continue
            if isinstance(target, nodes.Name) and target.name in ("steps", "outputs"):
                found.add(key)
            elif isinstance(target, nodes.Name) and target.name in ("inputs", "input"):
                inputs.add(key)
                inputs_keyed += 1
            elif (
                isinstance(target, nodes.Getattr | nodes.Getitem)
                and isinstance(target.node, nodes.Name)
                and target.node.name == "steps"
                and _key(target) is not None
            ):
                fields.add((str(_key(target)), key))
    if binds:
        # the template binds names (for, set, macro ...): let Jinja work out the scopes
        loaded = set(meta.find_undeclared_variables(tree))
        # names the template rebinds itself are not the run's
        if "steps" not in loaded:
            fields.clear()
        if not loaded & {"inputs", "input"}:
            inputs.clear()
    filters = {f.name for f in tree.find_all(nodes.Filter)} - FILTERS
    tests = {t.name for t in tree.find_all(nodes.Test)} - TESTS
    return Reads(
        names=frozenset(loaded - set(_GLOBALS)),
        steps=frozenset(found),
        step_fields=frozenset(fields),
        inputs=frozenset(inputs),
        all_inputs=inputs_named > inputs_keyed,
        unknown_filters=frozenset(filters),
        unknown_tests=frozenset(tests),
    )
