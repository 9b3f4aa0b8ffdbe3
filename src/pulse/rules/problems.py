"""Problems found in a rules file, each placed by file, path (`$.triggers[1].after`) and line."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import yaml

from pulse.duration import parse_duration_ms
from pulse.rules.schema import Duration, Rules

__all__ = ["Problems", "RulesCheck", "decode_hook", "line_of"]


_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")


class RulesCheck(msgspec.Struct, frozen=True, kw_only=True):
    """What `check_rules` found: the rules when valid, every problem and every warning."""

    source: str
    rules: Rules | None
    problems: list[str]
    """Errors: the file is refused while there is one."""
    warnings: list[str]
    """Suspicious but valid: unused definitions, thresholds no score reaches, ..."""


class Problems:
    """Collects messages, each with file, path and line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.node: yaml.Node | None = None
        self.messages: list[str] = []
        self.warnings: list[str] = []

    def add(self, message: str, path: str) -> None:
        line = line_of(self.node, path)
        where = f" (line {line})" if line else ""
        self.messages.append(f"{self.source}: {message} - at `{path}`{where}")

    def warn(self, message: str, path: str) -> None:
        line = line_of(self.node, path)
        where = f" (line {line})" if line else ""
        self.warnings.append(f"{self.source}: warning: {message} - at `{path}`{where}")

    def result(self, rules: Rules | None) -> RulesCheck:
        return RulesCheck(
            source=self.source, rules=rules, problems=self.messages, warnings=self.warnings
        )

    def convert(self, value: Any, type_: Any, path: str) -> Any:
        try:
            return msgspec.convert(value, type_, dec_hook=decode_hook)
        except msgspec.ValidationError as exc:
            message = str(exc)
            match = _AT_PATH.search(message)
            inner = match.group(1) if match else "$"
            self.add(message[: match.start()] if match else message, path + inner[1:])
            return None


def decode_hook(type_: type, value: Any) -> Any:
    if type_ is Duration:
        try:
            return Duration(parse_duration_ms(value))
        except ValueError as exc:
            raise ValueError(f"Expected `duration` like `30m` or `14d`, got `{value!r}`") from exc
    raise NotImplementedError


_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def line_of(node: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of the deepest YAML node on `path` (`$.a.b[2].c`)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key, index in _SEGMENT.findall(path[1:]):
        child: yaml.Node | None = None
        if key and isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if child is not None:
                key_node = next(k for k, v in node.value if v is child)
                line = key_node.start_mark.line + 1
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
