"""Read YAML/JSON text into plain data that remembers where every value came from.

PyYAML's own loaders forget positions and silently keep the last of two equal keys.
Here we compose PyYAML's node tree ourselves: mappings become :class:`LocDict`,
sequences :class:`LocList`, each carrying the 1-based line and column of its
children, so any later error can point at ``file:line:col``.
"""

from __future__ import annotations

from typing import Any

import yaml
import yaml.reader
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from interpreter.errors import Problem, WorkflowDefinitionError

try:  # libyaml composes several times faster than PyYAML's pure-Python parser
    from yaml import CSafeLoader as _CLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _CLoader = None  # type: ignore[assignment,misc]

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 1_000_000
"""Values a document may expand to: YAML aliases (``*name``) repeat whole subtrees, and
a few hundred bytes of nested aliases can otherwise expand to billions ("billion laughs")."""
MAX_TEXT = 50 * 1024 * 1024
"""Characters of text a document may expand to, aliases included."""

Mark = tuple[int, int]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in (
        *("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp"),
        *("binary", "set", "omap", "pairs"),
    )
)
"""The tags plain YAML and JSON resolve to; any other (``!!python/object``, ``!include``)
was written by the user and is refused."""


class LocDict(dict[str, Any]):
    """A mapping read from a file; ``pos[key]`` is where that key's value starts."""

    def __init__(self, *args: Any, mark: Mark = (1, 1), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mark = mark
        self.pos: dict[str, Mark] = {}
        self.key_pos: dict[str, Mark] = {}


class LocList(list[Any]):
    """A sequence read from a file; ``pos[i]`` is where item ``i`` starts."""

    def __init__(self, *args: Any, mark: Mark = (1, 1)) -> None:
        super().__init__(*args)
        self.mark = mark
        self.pos: list[Mark] = []


class _DepthLimitedComposer(Composer):
    """Composer that refuses absurd nesting before Python's recursion limit does."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[attr-defined]
                raise _TooDeep(mark.line + 1, mark.column + 1)
            node: Node | None = super().compose_node(parent, index)
            assert node is not None
            return node
        finally:
            self._depth -= 1


class _TooDeep(Exception):
    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column


class _NodeLoader(Reader, Scanner, Parser, _DepthLimitedComposer, SafeConstructor, Resolver):
    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _DepthLimitedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def _mark(node: Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


class _Expansion(Exception):
    def __init__(self, message: str, mark: Mark) -> None:
        self.message = message
        self.mark = mark


class _Tagged(Exception):
    def __init__(self, tag: str, mark: Mark) -> None:
        self.tag = tag
        self.mark = mark


class _Builder:
    def __init__(self, loader: _NodeLoader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.problems: list[Problem] = []
        self._merged_marks: set[Mark] = set()
        self._built: set[int] = set()
        self._values = 0
        self._text = 0
        self._alias_mark: Mark | None = None

    def _count(self, node: Node) -> None:
        """Charge one value against the document's budget (see :data:`MAX_VALUES`)."""
        if id(node) in self._built:
            self._alias_mark = self._alias_mark or _mark(node)  # first re-used anchor
        else:
            self._built.add(id(node))
        self._values += 1
        if isinstance(node, ScalarNode):
            self._text += len(node.value)
        if self._values > MAX_VALUES or self._text > MAX_TEXT:
            what = (
                f"more than {MAX_VALUES:,} values"
                if self._values > MAX_VALUES
                else f"more than {MAX_TEXT // (1024 * 1024)} MB of text"
            )
            raise _Expansion(
                f"the document expands to {what} through YAML aliases",
                self._alias_mark or _mark(node),
            )

    def build(self, node: Node) -> Any:
        self._count(node)
        if node.tag not in _PLAIN_TAGS:
            raise _Tagged(node.tag, _mark(node))
        if isinstance(node, MappingNode):
            own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
            self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<), merged ones first
            merged = len(node.value) - own
            out = LocDict(mark=_mark(node))
            for i, (key_node, value_node) in enumerate(node.value):
                key = _key_text(self.build(key_node))
                if i < merged:
                    self._merged_marks.add(_mark(key_node))
                if key in out and (i < merged or out.key_pos[key] in self._merged_marks):
                    pass  # keys written here override merged ones; PyYAML orders merges to match
                elif key in out:
                    first = out.key_pos[key]
                    line, col = _mark(key_node)
                    self.problems.append(
                        Problem(
                            f"duplicate key `{key}` (first defined at line {first[0]})",
                            self.path,
                            line,
                            col,
                            hint="keep one of them; YAML would silently use the last",
                        )
                    )
                    continue
                out.key_pos[key] = _mark(key_node)
                out.pos[key] = _mark(value_node)
                out[key] = self.build(value_node)
            return out
        if isinstance(node, SequenceNode):
            seq = LocList(mark=_mark(node))
            for item in node.value:
                seq.pos.append(_mark(item))
                seq.append(self.build(item))
            return seq
        assert isinstance(node, ScalarNode)
        if node.tag == _STR_TAG:
            return node.value  # what the constructor would return, without its bookkeeping
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, bytes | set) or type(value).__module__ == "datetime":
            # Dates and binary blobs have no place in a workflow; keep the text the user wrote.
            return node.value
        return value


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org") else tag


def decode(raw: bytes, path: str) -> str:
    """Decode UTF-8 (with or without BOM) or explain exactly where it is not."""
    if len(raw) > MAX_FILE_BYTES:
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"file is {len(raw) / 1e6:.1f} MB; workflow files are limited to "
                    f"{MAX_FILE_BYTES // (1024 * 1024)} MB",
                    path,
                    1,
                    1,
                    hint="keep large data out of the workflow and pass it as an input",
                )
            ]
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
                    path,
                    line,
                    column,
                    hint="save the file as UTF-8",
                )
            ]
        ) from None


def _compose_with_libyaml(text: str) -> tuple[Any, Node | None]:
    """Compose with libyaml, after checking the nesting depth on its event stream.

    Its composer recurses in C, where a document nested too deeply would crash the
    process instead of raising, so the depth limit is enforced first.
    """
    events = _CLoader(text)
    try:
        depth = 0
        while events.check_event():
            event = events.get_event()
            if isinstance(event, CollectionStartEvent | ScalarEvent | AliasEvent):
                if depth + 1 > MAX_DEPTH:
                    mark = event.start_mark
                    raise _TooDeep(mark.line + 1, mark.column + 1) if mark else _TooDeep(1, 1)
                if isinstance(event, CollectionStartEvent):
                    depth += 1
            elif isinstance(event, CollectionEndEvent):
                depth -= 1
    finally:
        events.dispose()
    loader = _CLoader(text)
    return loader, loader.get_single_node()


def parse(text: str, path: str = "<workflow>") -> Any:
    """Parse YAML or JSON text into :class:`LocDict`/:class:`LocList` trees."""
    if len(text) > MAX_FILE_BYTES:
        decode(text.encode("utf-8", "surrogatepass"), path)  # raises the size problem
    loader: Any = None
    try:
        if _CLoader is not None:
            try:
                loader, node = _compose_with_libyaml(text)
            except yaml.YAMLError:
                loader = None  # compose again below, for PyYAML's more precise message
        if loader is None:
            loader = _NodeLoader(text)
            node = loader.get_single_node()
    except _TooDeep as exc:
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"nesting deeper than {MAX_DEPTH} levels",
                    path,
                    exc.line,
                    exc.column,
                    hint="flatten the structure; deep nesting is almost always a mistake",
                )
            ]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = exc.problem or exc.context or "invalid YAML"
        hint = None
        if "\\t" in message or "\t" in message or "tab" in message.lower():
            hint = "YAML indentation must use spaces, not tabs"
        elif "expected <block end>" in message or "mapping values" in message:
            hint = "check the indentation of this line and the one above"
        if exc.problem and exc.context and exc.context_mark and exc.context_mark != mark:
            # where the unfinished construct began is usually where the mistake is
            message += f" ({exc.context} that starts at line {exc.context_mark.line + 1})"
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"invalid YAML: {message}",
                    path,
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                    hint=hint,
                )
            ]
        ) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"character U+{exc.character:04X} is not allowed in a YAML file"
                    if isinstance(exc.character, int)
                    else f"invalid character: {exc.reason}",
                    path,
                    line,
                    column,
                    hint="remove it (control characters such as NUL cannot appear in YAML)",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise WorkflowDefinitionError([Problem(f"invalid YAML: {exc}", path, 1, 1)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise WorkflowDefinitionError(
            [
                Problem(
                    "file is empty",
                    path,
                    1,
                    1,
                    hint="a workflow needs at least `name:` and `steps:`",
                )
            ]
        )
    builder = _Builder(loader, path)
    try:
        data = builder.build(node)
    except RecursionError:
        line, col = _mark(node)
        raise WorkflowDefinitionError(
            [Problem(f"nesting deeper than {MAX_DEPTH} levels", path, line, col)]
        ) from None
    except _Expansion as exc:
        raise WorkflowDefinitionError(
            [
                Problem(
                    exc.message,
                    path,
                    *exc.mark,
                    hint="repeat less through anchors (`&name` / `*name`), or pass large "
                    "data as an input",
                )
            ]
        ) from None
    except _Tagged as exc:
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"YAML tags are not allowed here (`{_short_tag(exc.tag)}`)",
                    path,
                    *exc.mark,
                    hint="workflow files are plain YAML or JSON: write the value itself; "
                    "files cannot include other files",
                )
            ]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise WorkflowDefinitionError(
            [
                Problem(
                    f"invalid YAML: {exc.problem or exc.context or 'invalid value'}",
                    path,
                    mark.line + 1 if mark else 1,
                    mark.column + 1 if mark else 1,
                    hint="`<<:` merges a mapping (or a list of mappings) into this one"
                    if "merg" in str(exc)
                    else None,
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise WorkflowDefinitionError([Problem(f"invalid YAML: {exc}", path, 1, 1)]) from None
    if builder.problems:
        raise WorkflowDefinitionError(builder.problems)
    return data


def position(root: Any, loc: tuple[str | int, ...]) -> Mark | None:
    """The deepest known position along ``loc`` (keys and indexes) from ``root``."""
    best: Mark | None = getattr(root, "mark", None)
    node = root
    for part in loc:
        if isinstance(node, LocDict) and isinstance(part, str) and part in node:
            best = node.pos.get(part, best)
            node = node[part]
        elif isinstance(node, LocList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.pos[part] if part < len(node.pos) else best
            node = node[part]
        elif isinstance(node, LocDict) and isinstance(part, str):
            # Unknown key: point at the key itself if it exists under another spelling.
            continue
        else:
            continue
    return best


def key_position(root: Any, loc: tuple[str | int, ...]) -> Mark | None:
    """Where the *key* named by the last element of ``loc`` is written, if known."""
    if not loc:
        return None
    node = root
    for part in loc[:-1]:
        in_dict = isinstance(node, LocDict) and isinstance(part, str) and part in node
        in_list = isinstance(node, LocList) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
    last = loc[-1]
    if isinstance(node, LocDict) and isinstance(last, str):
        return node.key_pos.get(last)
    return None
