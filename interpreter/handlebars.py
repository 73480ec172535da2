"""Handlebars as the original LLM-Orchestrator wrote it, translated to Jinja.

Original-format prompts use Handlebars blocks (``{{#each}}``, ``{{#if}}``,
``{{this.x}}``, ``{{@index}}``, ``{{eq a b}}`` ...). :func:`to_jinja` rewrites them
as Jinja once, before compiling, so one sandboxed renderer serves both syntaxes;
:data:`HELPERS` are the functions the translated templates call (installed as
Jinja globals by ``interpreter.templates``). Pure and deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2.utils import missing

__all__ = ["HELPERS", "to_jinja"]

_HB_HELPERS = {"eq", "ne", "gt", "gte", "lt", "lte", "and", "or", "not", "len", "lookup", "json"}
_HB_TAG = re.compile(r"\{\{(\{?)~?\s*([#/^]?)\s*(.*?)\s*~?(\}?)\}\}", re.DOTALL)
_HB_TOKEN = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|\(|\)|[^\s()]+")
_HB_MARKERS = (
    "{{#", "{{/", "{{^", "{{else", "{{{", "{{!", "@index", "@key", "@first", "@last", "@root",
    "this", "../", "{{.}}",
)  # fmt: skip
_HB_STANDALONE = re.compile(
    r"^[ \t]*(\{\{~?\s*(?:[#/^!]|else\b)[^{}]*\}\})[ \t]*(?:\r?\n|\Z)", re.M
)
_HB_BARE = re.compile(r"^[A-Za-z_]\w*(\.\w+)*$")
_HB_NOT_FIELDS = {"this", "loop", "__key", "true", "false", "null", "none", "True", "False", "None"}


def _hb_path(token: str, in_each: bool = False, roots: frozenset[str] = frozenset()) -> str:
    token = token.replace("@index", "loop.index0").replace("@first", "loop.first")
    token = token.replace("@last", "loop.last").replace("@key", "__key")
    if token == ".":
        return "this"
    if token.startswith("this.") or token == "this":
        return token
    if token.startswith("./"):
        return "this." + token[2:]
    if token.startswith(("../", "@root.")):
        # the enclosing context; only the root is reachable (outer `this` is shadowed)
        return token.removeprefix("@root.").lstrip("./") or "this"
    if in_each and _HB_BARE.match(token):
        head, _, rest = token.partition(".")
        if head not in _HB_NOT_FIELDS and head not in roots:
            # Handlebars reads a bare name inside `each` from the current item
            return f"_hb_field(this, {head!r})" + (f".{rest}" if rest else "")
    return token


def _hb_expr(tokens: list[str], in_each: bool = False, roots: frozenset[str] = frozenset()) -> str:
    """Translate Handlebars `helper a (helper b c)` calls to Jinja `helper(a, helper(b, c))`."""

    def parse(pos: int) -> tuple[str, int]:
        if tokens[pos] == "(":
            name = tokens[pos + 1]
            args: list[str] = []
            pos += 2
            while pos < len(tokens) and tokens[pos] != ")":
                arg, pos = parse(pos)
                args.append(arg)
            return f"_hb_{name}({', '.join(args)})", pos + 1
        return _hb_path(tokens[pos], in_each, roots), pos + 1

    if len(tokens) > 1 and tokens[0] in _HB_HELPERS:
        args = []
        pos = 1
        while pos < len(tokens):
            arg, pos = parse(pos)
            args.append(arg)
        return f"_hb_{tokens[0]}({', '.join(args)})"
    if len(tokens) >= 1 and tokens[0] == "(":
        return parse(0)[0]
    if len(tokens) == 1:
        return _hb_path(tokens[0], in_each, roots)
    return " ".join(_hb_path(t) for t in tokens)


def _is_handlebars_expr(tokens: list[str]) -> bool:
    return (len(tokens) > 1 and tokens[0] in _HB_HELPERS and tokens[1] not in _JINJA_OPS) or (
        bool(tokens) and tokens[0] == "("
    )


_JINJA_OPS = {"==", "!=", "<", ">", "<=", ">=", "and", "or", "in", "is", "|", "+", "-", "*", "/"}


def to_jinja(source: str, *, roots: frozenset[str] = frozenset()) -> str:
    """Rewrite Handlebars constructs in ``source`` as Jinja; leave Jinja untouched.

    ``roots`` are the context's top-level names: inside ``each`` a bare name is read
    from the current item unless it is one of them.
    """
    if not any(marker in source for marker in _HB_MARKERS) and not re.search(
        r"\{\{\s*\(?(" + "|".join(_HB_HELPERS) + r")\s+[\w\"'(.@]", source
    ):
        return source
    # Like Handlebars (and handlebars-rust >= 4), a block tag alone on its line leaves no line
    source = _HB_STANDALONE.sub(r"\1", source)
    stack: list[str] = []

    def replace(match: re.Match[str]) -> str:
        triple, sigil, body, _ = match.groups()
        if body.startswith("!"):
            return ""  # a Handlebars comment
        tokens = _HB_TOKEN.findall(body)
        in_each = "each" in stack
        if sigil == "#" and tokens:
            block, rest = tokens[0], tokens[1:]
            expr = _hb_expr(rest, in_each, roots)
            if block == "each":
                stack.append("each")
                return f"{{% for __key, this in _hb_pairs({expr}) %}}"
            if block == "if":
                stack.append("if")
                return f"{{% if _hb_truthy({expr}) %}}"
            if block == "unless":
                stack.append("if")
                return f"{{% if not _hb_truthy({expr}) %}}"
            return match.group(0)
        if sigil == "/" and tokens:
            closer = stack.pop() if stack else tokens[0]
            return "{% endfor %}" if closer == "each" else "{% endif %}"
        if body == "else":
            return "{% else %}"
        if (
            triple
            or _is_handlebars_expr(tokens)
            or any(t.startswith(("this", "@", "./", "../")) or t == "." for t in tokens)
            or (in_each and len(tokens) == 1)
        ):
            return "{{ " + _hb_expr(tokens, in_each, roots) + " }}"
        return match.group(0)

    return _sub_tags(source, replace)


def _sub_tags(source: str, replace: Callable[[re.Match[str]], str]) -> str:
    """``_HB_TAG.sub(replace, source)`` in linear time.

    The pattern's lazy body, tried from every ``{{``, made text with many opening
    braces and no closing ones quadratic (``"{{ this " * 4000``: 15 s). Each tag is
    matched only inside its window, up to the first ``}}`` after it; with no ``}}``
    left, no later ``{{`` can close either.
    """
    out: list[str] = []
    position = 0
    while True:
        start = source.find("{{", position)
        close = source.find("}}", start + 2) if start >= 0 else -1
        if close < 0:
            out.append(source[position:])
            return "".join(out)
        end = close + 3 if source.startswith("}}}", close) else close + 2
        match = _HB_TAG.match(source, start, end)
        if match is None:
            out.append(source[position : start + 2])
            position = start + 2
            continue
        out.append(source[position:start])
        out.append(replace(match))
        position = match.end()


# --- helpers the translated templates call ------------------------------------------


def _pairs(value: Any) -> Iterator[tuple[Any, Any]]:
    if isinstance(value, Mapping):
        return iter(value.items())
    if value is None:
        return iter(())
    return iter(enumerate(value))


@pass_context
def _field(context: Context, item: Any, name: str) -> Any:
    """A bare name inside ``each``: the item's field if it has one, else the outer variable."""
    if isinstance(item, Mapping) and name in item:
        return item[name]
    value = context.resolve_or_missing(name)
    return context.environment.undefined(name=name) if value is missing else value


def _len(value: Any) -> int:
    return len(value) if value is not None else 0


def _lookup(value: Any, key: Any) -> Any:
    try:
        return value[key]
    except (KeyError, IndexError, TypeError):
        return None


HELPERS: dict[str, Callable[..., Any]] = {
    "_hb_pairs": _pairs,
    "_hb_field": _field,
    "_hb_truthy": lambda v: bool(v),
    "_hb_eq": lambda a, b: a == b,
    "_hb_ne": lambda a, b: a != b,
    "_hb_gt": lambda a, b: a > b,
    "_hb_gte": lambda a, b: a >= b,
    "_hb_lt": lambda a, b: a < b,
    "_hb_lte": lambda a, b: a <= b,
    "_hb_and": lambda *a: all(a),
    "_hb_or": lambda *a: any(a),
    "_hb_not": lambda a: not a,
    "_hb_len": _len,
    "_hb_lookup": _lookup,
}
"""Functions the translated templates call (``{{eq a b}}`` becomes ``_hb_eq(a, b)``).

``_hb_json`` is added by ``interpreter.templates`` with its JSON rendering.
"""
