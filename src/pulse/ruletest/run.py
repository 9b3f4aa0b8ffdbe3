"""Running rule cases through the real dataflow and saying how they differ from expected."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import redis

from pulse.config import RunConfig
from pulse.duration import format_duration
from pulse.journey import Journey
from pulse.readback import delete_prefix
from pulse.rules import Rules, check_rules
from pulse.ruletest.cases import SCORE_TOLERANCE, CaseResult, ExpectedTrigger, RuleCase
from pulse.state import ContactStore, connect, layout_for, read_all_triggers
from pulse.triggers import Trigger, iso_ms

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
        store = ContactStore(client, layout_for(client, prefix))
        fired = read_all_triggers(client, store.layout)
        details = _differences(case, rules, store, fired)
        rule_counters = {k: v for k, v in store.counts()[0].items() if k.startswith("rule:")}
        if dead_letters.exists():
            for line in dead_letters.read_bytes().splitlines():
                letter = orjson.loads(line)
                details.append(f"event refused: {letter['reason']} - {letter['raw']}")
    finally:
        delete_prefix(client, prefix)
    outcome = "failed" if details else "passed"
    return CaseResult(
        id=case.id,
        outcome=outcome,
        description=case.description,
        details=details,
        rule_counters=rule_counters,
        rule_names={rule.name: rule.event for rule in rules.scoring.rules},
    )


def _differences(
    case: RuleCase, rules: Rules, store: ContactStore, fired: list[Trigger]
) -> list[str]:
    details: list[str] = []
    if case.triggers is not None:
        details += _trigger_diff(case, fired)
    if case.counters:
        counters = store.counts()[0]
        details += [
            f"counter `{name}`: expected {value}, got {counters.get(name, 0)}"
            for name, value in sorted(case.counters.items())
            if counters.get(name, 0) != value
        ]
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
        problems += _decision_problems(want, match)
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


def _decision_problems(want: ExpectedTrigger, got: Trigger) -> list[str]:
    """How a trigger's guardrail decision differs from the one expected (what was given)."""
    until = None if want.deferred_until_ms is None else iso_ms(want.deferred_until_ms)
    checks = [
        ("decision", want.decision, got.decision),
        ("suppressed_reason", want.suppressed_reason, got.suppressed_reason),
        ("deferred_until", until, got.deferred_until),
        ("channel", want.channel, got.channel),
    ]
    return [
        f"{want.trigger} of `{want.contact}`: {name} expected `{wanted}`, got `{actual}`"
        for name, wanted, actual in checks
        if wanted is not None and wanted != actual
    ]
