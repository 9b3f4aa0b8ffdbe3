"""Problems found in a rules file, each placed by file, path (`$.triggers[1].after`) and line.

Problems and warnings are listed by line. A file that `extends` a base pack is
checked as the merged document; a problem inside something the base pack
defined is placed in the base file (`Origin`).
"""

from __future__ import annotations

import re
import typing
from typing import Any

import msgspec
import yaml

from pulse.duration import parse_duration_ms
from pulse.rules.schema import CapSpan, Duration, Rules, TriggerSpec
from pulse.spec import Reentry, cap_span, reentry
from pulse.suggest import did_you_mean

__all__ = ["Origin", "Problems", "RulesCheck", "decode_hook", "line_of"]


_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `([^`]*)`")
_INVALID_KIND = re.compile(r"^Invalid value '([^']*)'$")
_ITEM = re.compile(r"^(\$\.scoring\.rules|\$\.triggers)\[(\d+)\](.*)$")


class RulesCheck(msgspec.Struct, frozen=True, kw_only=True):
    """What `check_rules` found: the rules when valid, every problem and every warning."""

    source: str
    rules: Rules | None
    problems: list[str]
    """Errors: the file is refused while there is one."""
    warnings: list[str]
    """Suspicious but valid: unused definitions, thresholds no score reaches, ..."""


class Origin(msgspec.Struct, frozen=True):
    """Where a merged list item came from: its index in the file, in the base pack, or both."""

    own: int | None
    base: int | None


class Problems:
    """Collects messages, each with file, path and line; lists them by line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.node: yaml.Node | None = None
        self.base_source = ""
        self.base_node: yaml.Node | None = None
        self.origins: dict[str, Origin] = {}
        """Per merged list item (`$.triggers[3]`), where it was written."""
        self.claimed: set[str] = set()
        """Paths already reported by a first check that makes later ones redundant."""
        self._problems: list[tuple[float, int, str]] = []
        self._warnings: list[tuple[float, int, str]] = []

    @property
    def messages(self) -> list[str]:
        """The problems so far, by line."""
        return [message for *_, message in sorted(self._problems)]

    @property
    def warnings(self) -> list[str]:
        """The warnings so far, by line."""
        return [message for *_, message in sorted(self._warnings)]

    def add(self, message: str, path: str, *, claim: bool = False) -> None:
        """Record a problem at `path` of the (merged) document.

        `claim` silences every later problem at the same path (a number that is not
        finite is not also reported as a bad duration).
        """
        if path in self.claimed:
            return
        if claim:
            self.claimed.add(path)
        line, where = self._place(path)
        self._problems.append((line, len(self._problems), f"{self.source}: {message}{where}"))

    def warn(self, message: str, path: str) -> None:
        """Record a warning at `path` of the (merged) document."""
        line, where = self._place(path)
        entry = f"{self.source}: warning: {message}{where}"
        self._warnings.append((line, len(self._warnings), entry))

    def result(self, rules: Rules | None) -> RulesCheck:
        """The check's outcome, problems and warnings listed by line."""
        return RulesCheck(
            source=self.source, rules=rules, problems=self.messages, warnings=self.warnings
        )

    def _place(self, path: str) -> tuple[float, str]:
        """(sort key, ` - at `path` (line n)`), in the file or in the base pack."""
        own_path: str | None = path
        base_path: str | None = path if self.base_node is not None else None
        item = _ITEM.match(path)
        if item and self.base_node is not None:
            origin = self.origins.get(f"{item.group(1)}[{item.group(2)}]", Origin(None, None))
            head, rest = item.group(1), item.group(3)
            own_path = None if origin.own is None else f"{head}[{origin.own}]{rest}"
            base_path = None if origin.base is None else f"{head}[{origin.base}]{rest}"
        is_own = own_path is not None and (base_path is None or _resolves(self.node, own_path))
        if base_path is not None and not is_own and _resolves(self.base_node, base_path):
            line = line_of(self.base_node, base_path)
            shown = f" line {line}" if line else ""
            # Listed after the file's own problems: the base is not what the author edits.
            return (float("inf"), f" - at `{base_path}` of `{self.base_source}`{shown}, "
                    "inherited through `extends`")  # fmt: skip
        shown_path = own_path or path
        line = line_of(self.node, shown_path)
        return (line or 0, f" - at `{shown_path}`" + (f" (line {line})" if line else ""))

    def convert(self, value: Any, type_: Any, path: str) -> Any:
        """`value` converted to `type_`, or None after recording why not."""
        try:
            return msgspec.convert(value, type_, dec_hook=decode_hook)
        except msgspec.ValidationError as exc:
            message = str(exc)
            match = _AT_PATH.search(message)
            inner = match.group(1) if match else "$"
            text = message[: match.start()] if match else message
            at = path + inner[1:]
            if unknown := _UNKNOWN_FIELD.match(text):
                at += f".{unknown.group(1)}"  # placed on the unknown key itself
            self.add(text + _suggestion(text, type_, value, inner), at)
            return None


def _suggestion(message: str, type_: Any, value: Any, inner: str) -> str:
    """A did-you-mean for an unknown field or trigger kind, from the schema."""
    kinds = [t.__struct_config__.tag for t in typing.get_args(TriggerSpec)]
    if (invalid := _INVALID_KIND.match(message)) and inner == "$.kind":
        return did_you_mean(invalid.group(1), kinds)
    unknown = _UNKNOWN_FIELD.match(message)
    if not unknown:
        return ""
    struct = type_
    if type_ is TriggerSpec or typing.get_origin(type_) is not None:
        kind = value.get("kind") if isinstance(value, dict) else None
        struct = next((t for t in typing.get_args(TriggerSpec)
                       if t.__struct_config__.tag == kind), None)  # fmt: skip
    for key in re.findall(r"\.([^.\[]+)", inner):
        field = next((f for f in msgspec.structs.fields(struct) if f.name == key), None) \
            if struct is not None else None  # fmt: skip
        struct = field.type if field is not None else None
    if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
        return ""
    return did_you_mean(unknown.group(1), [f.name for f in msgspec.structs.fields(struct)])


def _resolves(node: yaml.Node | None, path: str) -> bool:
    """Whether every segment of `path` exists in the YAML node tree."""
    for key, index in _SEGMENT.findall(path[1:]):
        if key and isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            node = node.value[int(index)]
        else:
            return False
        if node is None:
            return False
    return node is not None


def decode_hook(type_: type, value: Any) -> Any:
    if type_ is Duration:
        try:
            return Duration(parse_duration_ms(value))
        except ValueError as exc:
            raise ValueError(f"Expected `duration` like `30m` or `14d`, got `{value!r}`") from exc
    if type_ is CapSpan:
        try:
            return cap_span(value)
        except ValueError as exc:
            raise ValueError(
                f"Expected `day` or a duration like `1d` or `12h`, got `{value!r}`"
            ) from exc
    if type_ is Reentry:
        try:
            return reentry(value)
        except ValueError as exc:
            raise ValueError(
                f"Expected `always`, `never` or a duration like `30d`, got `{value!r}`"
            ) from exc
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
