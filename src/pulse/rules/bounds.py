"""The limits a rules file must stay within, so that no file can crash or stall pulse.

A rules file is read by `pulse check`, at start-up and by a running flow on hot
reload, so a hostile or broken file must be refused with a message, never a
traceback: the text must be UTF-8 and at most `MAX_FILE_BYTES`; the YAML may nest
at most `MAX_DEPTH` levels (PyYAML composes recursively: 1,000 levels raise
`RecursionError`) and, counting every alias use, hold at most `MAX_NODES` nodes
(an alias bomb would otherwise expand to millions); aliases may not form a cycle;
every number is finite and at most `MAX_NUMBER` in size. CEL conditions have
their own bounds (`pulse.conditions.condition_cost`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from pulse.errors import RuleError

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_NUMBER",
    "BoundedLoader",
    "LimitError",
    "compose_bounded",
    "decode_text",
    "number_problems",
    "read_rules_text",
]

MAX_FILE_BYTES = 1 << 20
"""A rules file larger than 1 MiB is refused (the default pack is about 3 KB)."""
MAX_DEPTH = 64
"""Deepest YAML nesting accepted (a rules file needs about 5)."""
MAX_NODES = 100_000
"""Most YAML nodes, counting each use of an alias as a copy."""
MAX_NUMBER = 1e9
"""Largest magnitude of any number in a rules file."""


class LimitError(yaml.MarkedYAMLError):
    """The YAML exceeds a bound; reported like a syntax error, with its line."""


def read_rules_text(path: str | Path) -> str:
    """The text of a rules file; `RuleError` when it cannot be read, is too big or not UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RuleError([f"{path}: cannot read rules file: {exc.strerror}"]) from exc
    return decode_text(data, str(path))


def decode_text(data: bytes, source: str) -> str:
    """Rules file bytes as text; `RuleError` naming the first byte that is not UTF-8.

    >>> decode_text(b"name: a\\nx: \\xff", "r.yaml")
    Traceback (most recent call last):
    ...
    pulse.errors.RuleError: r.yaml: not UTF-8 text: byte 0xff at byte offset 11 (line 2, column 4)
    """
    if len(data) > MAX_FILE_BYTES:
        raise RuleError(
            [f"{source}: rules file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,} accepted"]
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise RuleError(
            [
                f"{source}: not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset "
                f"{exc.start} (line {line}, column {column})"
            ]
        ) from exc


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing to compose deeper than `MAX_DEPTH`."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # stubs
                raise LimitError(None, None, f"nesting deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def compose_bounded(text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree and the Python document, within the bounds; else a `YAMLError`.

    >>> compose_bounded("a: [1, 2]")[1]
    {'a': [1, 2]}
    >>> try:
    ...     compose_bounded("[" * 100 + "]" * 100)
    ... except LimitError as exc:
    ...     print(exc.problem, "at column", exc.problem_mark.column + 1)
    nesting deeper than 64 levels at column 65
    """
    loader = BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _measure(node, 1, {}, set())
        return node, loader.construct_document(node)
    finally:
        loader.dispose()


def _measure(
    node: yaml.Node, depth: int, sizes: dict[int, tuple[int, int]], open_: set[int]
) -> tuple[int, int]:
    """(nodes, height) of `node` with aliases expanded; raises `LimitError` past a bound.

    Memoised per node, so a shared (aliased) node is measured once; recursion stops
    at `MAX_DEPTH`, so it never runs deep.
    """
    key = id(node)
    if key in sizes:
        size, height = sizes[key]
    else:
        if key in open_:
            raise LimitError(None, None, "an alias refers to a node that contains it",
                             node.start_mark)  # fmt: skip
        if depth > MAX_DEPTH:
            raise LimitError(None, None, f"nesting deeper than {MAX_DEPTH} levels "
                             "(counting aliases)", node.start_mark)  # fmt: skip
        open_.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        size, height = 1, 1
        for child in children:
            child_size, child_height = _measure(child, depth + 1, sizes, open_)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_NODES:
                raise LimitError(None, None, f"more than {MAX_NODES:,} values (counting each "
                                 "use of an alias)", node.start_mark)  # fmt: skip
        open_.discard(key)
        sizes[key] = (size, height)
    if depth + height - 1 > MAX_DEPTH:
        raise LimitError(None, None, f"nesting deeper than {MAX_DEPTH} levels (counting "
                         "aliases)", node.start_mark)  # fmt: skip
    return size, height


def number_problems(document: Any, path: str = "$") -> list[tuple[str, str]]:
    """(message, path) for every number that is not finite or is too large.

    >>> number_problems({"a": [1, float("nan")], "b": 1e12})  # doctest: +NORMALIZE_WHITESPACE
    [('Expected a finite number, got `nan`', '$.a[1]'),
     ('Expected a number from -1e+09 to 1e+09, got `1e+12`', '$.b')]
    """
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, str]] = [(document, path)]
    while stack:
        value, at = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            found.append((f"Expected a finite number, got `{value}`", at))
        elif isinstance(value, int | float) and abs(value) > MAX_NUMBER:
            shown = f"{float(value):g}" if abs(value) < 1e300 else "a huge number"
            found.append(
                (f"Expected a number from {-MAX_NUMBER:g} to {MAX_NUMBER:g}, got `{shown}`", at)
            )
        elif isinstance(value, dict):
            stack.extend((v, f"{at}.{k}") for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((v, f"{at}[{i}]") for i, v in reversed(list(enumerate(value))))
    return found
