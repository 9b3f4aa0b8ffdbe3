"""Rule tests: short event sequences and the exact triggers, scores and stages they must give.

A rule test file (`rules/tests/*.yaml`) holds one case, or several under `cases`
sharing the file's `rules`, `rules_patch`, `start`, `contact` and `until`:

```yaml
description: a cart left alone fires `abandon_cart` 30 minutes after the last add
rules: default                 # the default pack, or a rules file relative to this file
start: "2026-01-05T10:00:00Z"  # what relative times (`+31m`) count from
contact: c1                    # default contact of the events
until: +2h                     # event time reached at end of input (fires timers)
events:
  - {at: +0m, type: add_to_cart, props: {product_id: p1, price: 20.0}}
  - {at: +20m, type: add_to_cart, props: {product_id: p2, price: 30.0}}
expect:
  triggers:                    # exactly these fire: [trigger, contact, at], or a mapping
    - [abandon_cart, c1, +50m] # that may add `reason` (a subset the trigger must carry)
                               # and `stage` (the stage it carries)
  scores: {c1: 15.94}          # at `expect.at`, `until` or the last event: the blended score
  stages: {c1: decision}
```

Each case runs through the real dataflow against real Redis, under a key prefix
of its own, so cases never see each other's state. `run_cases` returns one
`CaseResult` per case; `format_report` prints them the way pytest does.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import msgspec
import orjson
import redis
import yaml

from pulse.config import RunConfig
from pulse.duration import format_duration, parse_duration_ms
from pulse.errors import ConfigError, EventError, RuleError
from pulse.events import parse_ts
from pulse.journey import Journey
from pulse.readback import delete_prefix, read_triggers
from pulse.rules import Rules, check_rules, default_rules_path, read_rules_text
from pulse.rules.bounds import BoundedLoader
from pulse.state import ContactStore, KeyLayout, connect
from pulse.triggers import Trigger, iso_ms

__all__ = [
    "CaseResult",
    "RuleCase",
    "find_cases",
    "format_report",
    "junit_xml",
    "load_cases",
    "parse_when",
    "run_cases",
]

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


class _Expect(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    triggers: list[_Trigger | tuple[str, str, str | int]] | None = None
    scores: dict[str, float] = {}
    stages: dict[str, str] = {}
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


class CaseResult(msgspec.Struct, kw_only=True):
    """The outcome of one case: `passed`, `failed` (with differences) or `error`."""

    id: str
    outcome: str
    description: str = ""
    details: list[str] = []
    elapsed_s: float = 0.0


# -- loading -------------------------------------------------------------------------


def parse_when(value: str | int, start_ms: int) -> int:
    """A test time in epoch ms: `+31m` / `-5m` relative to `start_ms`, or absolute.

    >>> parse_when("+31m", 1_000_000)
    2860000
    >>> parse_when("2026-01-05T00:00:00Z", 0)
    1767571200000
    """
    if isinstance(value, str) and value[:1] in "+-" and value[1:2] != "":
        sign = -1 if value[0] == "-" else 1
        return start_ms + sign * parse_duration_ms(value[1:])
    return parse_ts(value)


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
    return ExpectedTrigger(raw.trigger, raw.contact, at, raw.reason, raw.stage)


# -- running -------------------------------------------------------------------------


def run_cases(
    cases: list[RuleCase], redis_url: str, *, batch_size: int = 1000
) -> Iterator[CaseResult]:
    """Run each case through the real dataflow, each under a key prefix of its own.

    `batch_size` is the source batch size; a case must pass with any (tests run 1 and 1000).
    """
    client = connect(redis_url)
    with tempfile.TemporaryDirectory(prefix="pulse-ruletest-") as scratch:
        for case in cases:
            started = time.perf_counter()
            result = _run_case(case, client, redis_url, Path(scratch), batch_size)
            result.elapsed_s = time.perf_counter() - started
            yield result


def _run_case(
    case: RuleCase, client: redis.Redis, redis_url: str, scratch: Path, batch_size: int
) -> CaseResult:
    from bytewax.testing import run_main

    from pulse.flow import build_flow

    check = check_rules(case.rules_text, case.rules_source)
    if check.rules is None:
        return CaseResult(id=case.id, outcome="error", details=["invalid rules:", *check.problems])
    rules = check.rules
    prefix = f"ruletest-{uuid.uuid4().hex[:12]}"
    events = scratch / f"{prefix}.jsonl"
    events.write_bytes(b"".join(line + b"\n" for line in case.events))
    dead_letters = scratch / f"{prefix}.dead.jsonl"
    config = RunConfig(
        rules_path=case.rules_source,
        redis_url=redis_url,
        prefix=prefix,
        inputs=[str(events)],
        batch_size=batch_size,
        until_ms=case.until_ms,
        show_console=False,
        dead_letters_path=str(dead_letters),
    )
    try:
        flow, _ = build_flow(config, rules)
        run_main(flow)  # type: ignore[no-untyped-call]  # bytewax stubs leave it untyped
        store = ContactStore(client, KeyLayout(prefix))
        fired = read_triggers(client, KeyLayout(prefix).triggers)
        details = _differences(case, rules, store, fired)
        if dead_letters.exists():
            for line in dead_letters.read_bytes().splitlines():
                letter = orjson.loads(line)
                details.append(f"event refused: {letter['reason']} - {letter['raw']}")
    finally:
        delete_prefix(client, prefix)
    outcome = "failed" if details else "passed"
    return CaseResult(id=case.id, outcome=outcome, description=case.description, details=details)


def _differences(
    case: RuleCase, rules: Rules, store: ContactStore, fired: list[Trigger]
) -> list[str]:
    details: list[str] = []
    if case.triggers is not None:
        details += _trigger_diff(case, fired)
    contacts = sorted(set(case.scores) | set(case.stages))
    model = store.load_model(rules.model) if contacts and rules.model.enabled else None
    journey = Journey(rules, model)
    for contact in contacts:
        state = store.read_contact(contact)
        if state is None:
            details.append(f"contact `{contact}`: no state (no event of this contact was applied)")
            continue
        if contact in case.scores:
            score = journey.score(state, case.measure_ms)
            expected = case.scores[contact]
            if abs(score - expected) > SCORE_TOLERANCE:
                at = _relative(case.measure_ms, case.start_ms)
                details.append(
                    f"score of `{contact}` at {at}: expected {expected:g}, got {score:g}"
                )
        if contact in case.stages and state.stage != case.stages[contact]:
            details.append(
                f"stage of `{contact}`: expected `{case.stages[contact]}`, got `{state.stage}`"
            )
    return details


def _trigger_diff(case: RuleCase, fired: list[Trigger]) -> list[str]:
    """A unified diff of expected and fired triggers, in time order; empty when they agree."""
    assert case.triggers is not None
    expected = sorted(case.triggers, key=lambda t: (t.ts_ms, t.trigger, t.contact))
    actual = sorted(fired, key=lambda t: (t.ts_ms, t.trigger, t.contact_id))
    unmatched = list(actual)
    rows: list[tuple[int, str, str]] = []
    problems: list[str] = []
    for want in expected:
        match = next(
            (t for t in unmatched
             if (t.trigger, t.contact_id, t.ts_ms) == (want.trigger, want.contact, want.ts_ms)),
            None,
        )  # fmt: skip
        line = _trigger_line(want.trigger, want.contact, want.ts_ms, case.start_ms)
        if match is None:
            rows.append((want.ts_ms, "-", line))
            continue
        unmatched.remove(match)
        rows.append((want.ts_ms, " ", line))
        for name, value in want.reason.items():
            if match.reason.get(name) != value:
                problems.append(
                    f"{want.trigger} of `{want.contact}`: reason `{name}` expected "
                    f"{value!r}, got {match.reason.get(name)!r}"
                )
        if want.stage is not None and match.stage != want.stage:
            problems.append(
                f"{want.trigger} of `{want.contact}`: stage expected `{want.stage}`, "
                f"got `{match.stage}`"
            )
    for extra in unmatched:
        rows.append(
            (
                extra.ts_ms,
                "+",
                _trigger_line(extra.trigger, extra.contact_id, extra.ts_ms, case.start_ms),
            )
        )
    if all(mark == " " for _, mark, _ in rows) and not problems:
        return []
    diff = ["triggers (- expected but not fired, + fired but not expected):"]
    diff += [f"  {mark} {line}" for _, mark, line in sorted(rows, key=lambda r: r[0])]
    return diff + problems


def _trigger_line(trigger: str, contact: str, ts_ms: int, start_ms: int) -> str:
    return f"{trigger:<16} {contact:<10} {_relative(ts_ms, start_ms):>8}  ({iso_ms(ts_ms)})"


def _relative(ts_ms: int, start_ms: int) -> str:
    """An event time as an offset from the case's start.

    >>> _relative(5_400_000, 0), _relative(0, 60_000)
    ('+1h30m', '-1m')
    """
    delta = ts_ms - start_ms
    return ("-" if delta < 0 else "+") + format_duration(abs(delta))


# -- report --------------------------------------------------------------------------


def format_report(results: list[CaseResult], elapsed_s: float, *, verbose: bool = True) -> str:
    """A pytest-like report: one line per case, then each failure's differences, then totals."""
    lines: list[str] = []
    if verbose:
        lines += [f"{r.id} {r.outcome.upper()}" for r in results]
    failures = [r for r in results if r.outcome != "passed"]
    if failures:
        lines.append("")
        lines.append(" FAILURES ".center(72, "="))
        for result in failures:
            lines.append(f" {result.id} ".center(72, "_"))
            if result.description:
                lines.append(result.description)
            lines += result.details
            lines.append("")
    counts = {
        outcome: sum(r.outcome == outcome for r in results)
        for outcome in ("failed", "error", "passed")
    }
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items() if n) or "no cases"
    lines.append(f" {summary} in {elapsed_s:.2f}s ".center(72, "="))
    return "\n".join(lines)


def junit_xml(results: list[CaseResult], elapsed_s: float) -> bytes:
    """The results as a JUnit XML report for CI: one `testcase` per case.

    A failed case carries a `failure`, a case that could not run an `error`, each
    with the report's details as text.

    >>> xml = junit_xml([CaseResult(id="rules/tests/a.yaml::one", outcome="passed"),
    ...                  CaseResult(id="rules/tests/a.yaml::two", outcome="failed",
    ...                             details=["score of `c1`: expected 16, got 15.94"])], 1.5)
    >>> b'failures="1"' in xml and b'classname="rules/tests/a.yaml" name="two"' in xml
    True
    """
    counts = {o: sum(r.outcome == o for r in results) for o in ("failed", "error")}
    suite = ElementTree.Element(
        "testsuite",
        name="pulse test",
        tests=str(len(results)),
        failures=str(counts["failed"]),
        errors=str(counts["error"]),
        skipped="0",
        time=f"{elapsed_s:.3f}",
    )
    for result in results:
        classname, _, name = result.id.rpartition("::")
        case = ElementTree.SubElement(
            suite, "testcase", classname=classname or result.id, name=name,
            time=f"{result.elapsed_s:.3f}",
        )  # fmt: skip
        if result.outcome != "passed":
            tag = "failure" if result.outcome == "failed" else "error"
            first = result.details[0] if result.details else result.outcome
            problem = ElementTree.SubElement(case, tag, message=first)
            problem.text = "\n".join(filter(None, [result.description, *result.details]))
    root = ElementTree.Element("testsuites")
    root.append(suite)
    xml: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def _shown(path: Path) -> str:
    """A path as the report shows it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
