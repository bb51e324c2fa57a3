"""YAML text → plain Python values, remembering the line of every key.

PyYAML's ``safe_load`` forgets where things were and silently keeps the last of two
duplicate keys. Here the document is composed into nodes first, then walked: every
mapping key and list item gets its line recorded under its key path, duplicate keys
are reported, and only plain YAML (mappings, lists, text, numbers, booleans, dates)
is accepted::

    >>> doc = parse_yaml("tools:\\n  crm:\\n    type: hubspot\\n")
    >>> doc.data
    {'tools': {'crm': {'type': 'hubspot'}}}
    >>> doc.line(("tools", "crm", "type"))
    3

Mapping keys are always their literal text, so ``on:`` or ``1:`` stay ``"on"``, ``"1"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from . import messages as msg

#: A key path: ``("workflows", "lead", "stages", 2, "tool")``.
KeyPath = tuple[str | int, ...]

#: An alias bomb expands a few lines into billions of values; stop well before that.
MAX_VALUES = 100_000

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp")}


class YamlProblem(Exception):
    """The text is not a YAML document Baton can use; ``problems`` are (line, message)."""

    def __init__(self, problems: list[tuple[int | None, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(m for _, m in problems))


@dataclass
class Document:
    """Plain values (dicts, lists, scalars) and the line of each key path."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def line(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one.

        Never the document's first line for a missing top-level key: that would point
        at whatever key happens to come first.
        """
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None


def parse_yaml(text: str) -> Document:
    """Parse one YAML document; raise ``YamlProblem`` (with lines) when it is unusable."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise YamlProblem([_marked(exc)]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        code = exc.character if isinstance(exc.character, int) else 0
        raise YamlProblem([(line, msg.control_character(code))]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML error above is marked
        raise YamlProblem([(None, msg.invalid_yaml(str(exc)))]) from None
    except RecursionError:
        raise YamlProblem([(None, msg.too_deep())]) from None
    if root is None:
        raise YamlProblem([(1, msg.empty_file())])
    walker = _Walker()
    try:
        data = walker.walk(root, ())
    except RecursionError:
        raise YamlProblem([(_line(root), msg.too_deep())]) from None
    if walker.problems:
        raise YamlProblem(walker.problems)
    walker.lines.setdefault((), _line(root))
    return Document(data, walker.lines)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _marked(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "unreadable"
    if "'\\t'" in problem:
        return line, msg.tab_character()
    if isinstance(exc, yaml.composer.ComposerError) and "another document" in problem:
        return line, msg.several_documents()
    context_line = exc.context_mark.line + 1 if exc.context_mark is not None else None
    if context_line == line:
        context_line = None
    return line, msg.invalid_yaml(problem, exc.context, context_line)


def _flatten(node: MappingNode, flattening: set[int]) -> None:
    """Resolve ``<<`` merge keys of ``node`` in place, as PyYAML's ``flatten_mapping``
    does, but keeping only the first of the merged pairs with the same key: old PyYAML
    versions keep them all, and ``<<: [*a, *a]`` nested twenty times is then a million
    pairs. Merged mappings come first (the earlier one wins), explicit keys last and win.

    ``<<: *a`` where ``a`` contains the mapping being merged is refused as recursion.
    """
    if id(node) in flattening:
        raise YamlProblem([(_line(node), msg.recursive_alias())])
    flattening.add(id(node))
    merged: list[tuple[Node, Node]] = []
    seen: set[str] = set()
    own: list[tuple[Node, Node]] = []
    for key_node, value_node in node.value:
        if key_node.tag != _TAG + "merge":
            if key_node.tag == _TAG + "value":
                key_node.tag = _TAG + "str"
            own.append((key_node, value_node))
            continue
        if isinstance(value_node, MappingNode):
            sources = [value_node]
        elif isinstance(value_node, SequenceNode):
            sources = list(value_node.value)
        else:
            raise YamlProblem([(_line(value_node), msg.bad_merge(value_node.id, in_list=False))])
        for source in sources:
            if not isinstance(source, MappingNode):
                raise YamlProblem([(_line(source), msg.bad_merge(source.id, in_list=True))])
            _flatten(source, flattening)
            for pair in source.value:
                key = str(pair[0].value) if isinstance(pair[0], ScalarNode) else str(id(pair[0]))
                if key not in seen:
                    seen.add(key)
                    merged.append(pair)
    flattening.discard(id(node))
    if merged or len(own) != len(node.value):
        # An explicit key wins over a merged one; dropping the merged one keeps the keys
        # unique, so an alias of this mapping is not read as holding duplicate keys.
        explicit = {str(k.value) for k, _ in own if isinstance(k, ScalarNode)}
        kept = [p for p in merged if not (isinstance(p[0], ScalarNode) and p[0].value in explicit)]
        node.value = kept + own


class _Walker:
    """Turns composed nodes into plain values, recording lines and duplicate keys."""

    def __init__(self) -> None:
        self.constructor = SafeConstructor()
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[tuple[int | None, str]] = []
        self.count = 0
        self.open: set[int] = set()  # ids of the mappings/lists being walked (recursion check)

    def fail(self, node: Node, message: str) -> None:
        raise YamlProblem([(_line(node), message)])

    def walk(self, node: Node, path: KeyPath) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            self.fail(node, msg.too_large(MAX_VALUES))
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if id(node) in self.open:
            self.fail(node, msg.recursive_alias())
        self.open.add(id(node))
        try:
            if isinstance(node, SequenceNode) and node.tag == _TAG + "seq":
                return self.sequence(node, path)
            if isinstance(node, MappingNode) and node.tag == _TAG + "map":
                return self.mapping(node, path)
            self.fail(node, msg.unsupported_tag(node.tag))
        finally:
            self.open.discard(id(node))
        raise AssertionError("unreachable")  # pragma: no cover

    def scalar(self, node: ScalarNode) -> Any:
        if node.tag == _TAG + "value":  # a bare '=' resolves to this 1.1 oddity
            return node.value
        if node.tag not in _SCALAR_TAGS:
            self.fail(node, msg.unsupported_tag(node.tag))
        try:
            return self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.fail(node, msg.invalid_yaml(exc.problem or "cannot read this value"))
        except (ValueError, OverflowError) as exc:  # e.g. a date like 2026-13-45
            if node.tag == _TAG + "int":  # more digits than Python reads (4,300)
                self.fail(node, msg.number_too_long(len(node.value)))
            self.fail(node, msg.bad_scalar(node.value, str(exc)))
        raise AssertionError("unreachable")  # pragma: no cover

    def sequence(self, node: SequenceNode, path: KeyPath) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = _line(item)
            items.append(self.walk(item, (*path, index)))
        return items

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _TAG + "merge":
                continue
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, msg.complex_key())
            key = str(key_node.value)
            if key in seen:
                self.problems.append((_line(key_node), msg.duplicate_key(key, seen[key])))
            else:
                seen[key] = _line(key_node)
        # Resolves '<<: *defaults' merges in place; explicit keys come last and win.
        _flatten(node, set())
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self.fail(key_node, msg.complex_key())
            key = str(key_node.value)
            self.lines[(*path, key)] = _line(key_node)
            result[key] = self.walk(value_node, (*path, key))
        return result


def is_file_path(path: str) -> bool:
    """Whether ``path`` names a file (not a ``<text>`` given in place of one)."""
    return not (path.startswith("<") and path.endswith(">"))


def beside_config(store: str, path: str) -> str:
    """A relative file name is relative to the config file's folder."""
    target = Path(store).expanduser()
    if not target.is_absolute() and is_file_path(path):
        target = Path(path).resolve().parent / target
    return str(target)
