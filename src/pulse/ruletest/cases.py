"""Rule test files read into `RuleCase`s: the format's structs, relative times, the events."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import yaml

from pulse.errors import ConfigError, EventError, RuleError
from pulse.events import parse_ts
from pulse.rules import default_rules_path, read_rules_text
from pulse.rules.bounds import BoundedLoader
from pulse.times import parse_time

DEFAULT_START = "2026-01-05T00:00:00Z"
SCORE_TOLERANCE = 0.01
"""Scores are compared to two decimals: the engine rounds to three."""


class _Loader(BoundedLoader):
    """YAML without implicit timestamps: `2026-01-05T10:00:00Z` stays the text it reads as;
    nesting bounded as in rules files."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Event(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: str
    at: str | int = "+0s"
    contact: str | None = None
    anonymous_id: str | None = None
    id: str | None = None
    props: dict[str, Any] = {}


class _Trigger(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    trigger: str
    contact: str
    at: str | int
    reason: dict[str, Any] = {}
    stage: str | None = None
    decision: str | None = None
    suppressed_reason: str | None = None
    deferred_until: str | int | None = None
    channel: str | None = None


class _Expect(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    triggers: list[_Trigger | tuple[str, str, str | int]] | None = None
    scores: dict[str, float] = {}
    stages: dict[str, str] = {}
    counters: dict[str, int] = {}
    """Run counters after the case (`pulse:stats`, e.g. the `lift:` ones of `pulse.lift`)."""
    at: str | int | None = None
    """When scores are measured; default `until`, else the last event."""


class _Case(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str | None = None
    description: str = ""
    rules: str | None = None
    rules_patch: dict[str, str] | None = None
    start: str | int | None = None
    contact: str | None = None
    until: str | int | None = None
    events: list[_Event]
    expect: _Expect


class _File(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    description: str = ""
    rules: str = "default"
    rules_patch: dict[str, str] = {}
    start: str | int = DEFAULT_START
    contact: str | None = None
    until: str | int | None = None
    cases: list[_Case]


_SHARED = ("rules", "rules_patch", "start", "contact", "until")
"""What a file may set for all its cases (a case's own value wins)."""


class ExpectedTrigger(msgspec.Struct, frozen=True):
    """A trigger a case expects: name, contact, event time, reason facts and stage it carries."""

    trigger: str
    contact: str
    ts_ms: int
    reason: dict[str, Any] = {}
    stage: str | None = None
    decision: str | None = None
    """`sent`, `suppressed` or `deferred` (see `pulse.guardrails`), when given."""
    suppressed_reason: str | None = None
    deferred_until_ms: int | None = None
    channel: str | None = None
    """The channel it must go out on (`channel` or the one `channels` chose)."""


class RuleCase(msgspec.Struct, frozen=True, kw_only=True):
    """One rule test, resolved: the rules text, the events as JSON lines, what to expect."""

    id: str
    """`file::name`, as the report shows it."""
    description: str
    rules_source: str
    rules_text: str
    start_ms: int
    events: list[bytes]
    until_ms: int | None
    triggers: list[ExpectedTrigger] | None
    scores: dict[str, float]
    stages: dict[str, str]
    measure_ms: int
    counters: dict[str, int] = {}


class CaseResult(msgspec.Struct, kw_only=True):
    """The outcome of one case: `passed`, `failed` (with differences) or `error`."""

    id: str
    outcome: str
    description: str = ""
    details: list[str] = []
    elapsed_s: float = 0.0
    rule_counters: dict[str, int] = {}
    """The case's per-rule counters (`rule:<name>:hits`, ...; see `pulse.rulestats`)."""
    rule_names: dict[str, str] = {}
    """The point rules of the case's rules file: name -> event type."""


# -- loading -------------------------------------------------------------------------


def parse_when(value: str | int, start_ms: int) -> int:
    """A test time in epoch ms: `+31m` / `-5m` relative to `start_ms`, or absolute.

    >>> parse_when("+31m", 1_000_000)
    2860000
    >>> parse_when("2026-01-05T00:00:00Z", 0)
    1767571200000
    """
    return parse_time(value, base_ms=start_ms)  # the one parser of times (`pulse.times`)


def find_cases(paths: Iterable[str | Path]) -> list[Path]:
    """Rule test files: each path is a file, or a directory searched for `*.yaml`."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.y*ml") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"rule tests `{path}` not found")
    return found


def load_cases(path: Path, rules_override: Path | None = None) -> list[RuleCase]:
    """The cases of one test file; raises `ConfigError` saying what is wrong and where.

    `rules_override` replaces `rules: default` (cases that name their own file keep it).
    """
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{_shown(path)}: cannot read rule tests: {exc}") from exc
    if isinstance(document, dict) and "cases" not in document:
        shared = {k: document[k] for k in _SHARED if k in document}
        document = {**shared, "cases": [{k: v for k, v in document.items() if k not in shared}]}
    try:
        spec = msgspec.convert(document, _File)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{_shown(path)}: {exc}") from exc
    return [
        _resolve(path, spec, case, index, rules_override) for index, case in enumerate(spec.cases)
    ]


def _resolve(
    path: Path, spec: _File, case: _Case, index: int, rules_override: Path | None
) -> RuleCase:
    where = f"{_shown(path)}: case {case.name or index}"
    rules_name = case.rules or spec.rules
    if rules_name == "default":
        rules_path = rules_override or default_rules_path()
    else:
        rules_path = (path.parent / rules_name).resolve()
    try:
        text = read_rules_text(rules_path)
    except RuleError as exc:
        raise ConfigError(f"{where}: {'; '.join(exc.problems)}") from exc
    for old, new in {**spec.rules_patch, **(case.rules_patch or {})}.items():
        if old not in text:
            raise ConfigError(f"{where}: `rules_patch` target `{old}` is not in `{rules_path}`")
        text = text.replace(old, new)
    try:
        start = parse_ts(case.start if case.start is not None else spec.start)
        lines = [_event_line(e, n, start, case.contact or spec.contact, path, index)
                 for n, e in enumerate(case.events)]  # fmt: skip
        until_text = case.until if case.until is not None else spec.until
        until = parse_when(until_text, start) if until_text is not None else None
        triggers = None
        if case.expect.triggers is not None:
            triggers = [_expected(t, start) for t in case.expect.triggers]
        last = max((orjson.loads(line)["ts"] for line in lines), default=start)
        measure = parse_when(case.expect.at, start) if case.expect.at is not None else None
    except (ValueError, EventError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return RuleCase(
        id=f"{_shown(path)}::{case.name or (index if len(spec.cases) > 1 else path.stem)}",
        description=case.description or spec.description,
        rules_source=str(rules_path),
        rules_text=text,
        start_ms=start,
        events=lines,
        until_ms=until,
        triggers=triggers,
        scores=case.expect.scores,
        stages=case.expect.stages,
        measure_ms=measure or until or last,
        counters=case.expect.counters,
    )


def _event_line(
    event: _Event, n: int, start_ms: int, contact: str | None, path: Path, case: int
) -> bytes:
    wire: dict[str, Any] = {
        "event_id": event.id or f"{path.stem}-{case}-{n}",
        "type": event.type,
        "ts": parse_when(event.at, start_ms),
    }
    if event.contact or contact:
        wire["contact_id"] = event.contact or contact
    if event.anonymous_id:
        wire["anonymous_id"] = event.anonymous_id
    if event.props:
        wire["props"] = event.props
    return orjson.dumps(wire)


def _expected(raw: _Trigger | tuple[str, str, str | int], start_ms: int) -> ExpectedTrigger:
    if isinstance(raw, tuple):
        name, contact, at = raw
        return ExpectedTrigger(name, contact, parse_when(at, start_ms))
    at = parse_when(raw.at, start_ms)
    until = None if raw.deferred_until is None else parse_when(raw.deferred_until, start_ms)
    return ExpectedTrigger(
        raw.trigger,
        raw.contact,
        at,
        raw.reason,
        raw.stage,
        raw.decision,
        raw.suppressed_reason,
        until,
        raw.channel,
    )


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
