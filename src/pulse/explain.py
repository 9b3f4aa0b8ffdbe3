"""Why a contact is where it is: its score part by part, its stages, timers and triggers.

`explain_contact` reads one contact's state and recent triggers from Redis and
returns an `Explanation`:

* the score at a moment, with every part: each rule's points as held at the
  contact's last update, the decay applied since (`2^(-elapsed / half_life)`),
  and what is left; plus whatever else the blended score holds (the model part);
* the event counts per window (1h, 24h, 7d, 30d) at that moment;
* the stage history and the pending timers (what will fire, when, armed by what);
* the recent triggers with their lineage: the rules version they fired under
  (and whether it is the one loaded now), the facts in their `reason`, the score
  as it was then (rule points, and the model part with the probability the model
  gave then: today's model is never applied to an old trigger), and the events
  named there (`armed_by`, `event`), looked up in an events file if given: by
  `event_id`, or by `props.order_id` for an order (`post_purchase`); an
  anonymous contact (`anon:<id>`) is found by its `anonymous_id`.

Triggers are found by scanning the trigger stream newest first (bounded by
`scan_limit`): explain is an offline tool, never on the hot path.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import msgspec
import orjson
import redis

from pulse import windows
from pulse.duration import format_duration
from pulse.errors import ConfigError
from pulse.journey import Journey
from pulse.readback import recent_triggers
from pulse.rules import Rules
from pulse.scoring import decay_factor, score_at, score_breakdown
from pulse.state import ContactStore, layout_for
from pulse.times import parse_time
from pulse.triggers import Trigger, iso_ms

__all__ = ["Explanation", "Lineage", "Part", "PendingTimer", "explain_contact"]

_EVENT_REFERENCES = ("armed_by", "event")
"""`reason` fields that name an event id."""


class Part(msgspec.Struct, kw_only=True):
    """One part of the score at `Explanation.at`."""

    name: str
    points: float
    """What this part adds to the score now."""
    kind: str = "rule"
    """`rule` (decayed rule points) or another part of the blended score (`model`)."""
    event: str | None = None
    points_per_event: float | None = None
    cap: float | None = None
    condition: str | None = None
    held: float | None = None
    """Points held at the contact's last update, before the decay since."""
    decay: float | None = None
    """Share of `held` left at `at`."""
    note: str = ""


class PendingTimer(msgspec.Struct, kw_only=True):
    """A timer that will fire when the watermark passes `due`."""

    slot: str
    trigger: str
    due: str
    armed_by: str
    is_overdue: bool
    """Due before `at`: fires with the next batch that moves the watermark past it."""


class Lineage(msgspec.Struct, kw_only=True):
    """One fired trigger and what made it fire."""

    trigger: Trigger
    is_current_rules: bool
    points_then: float | None = None
    """Rule points when it fired (`reason.points`; `None` when the model was off)."""
    model_p_then: float | None = None
    """The purchase probability the model gave then (`None`: it gave none yet)."""
    model_points_then: float | None = None
    """What the model added to the score then."""
    events: list[dict[str, Any]] = []
    """The events its `reason` names, from the events file (when one was given)."""


class Explanation(msgspec.Struct, kw_only=True):
    """Everything `pulse explain` shows about one contact; encodes to JSON as is."""

    contact: str
    at: str
    rules_version: str
    score: float
    parts: list[Part]
    points_at: str
    """When the rule points were last updated: `Part.held` is as of then."""
    half_life: str
    total_cap: float
    stage: str
    stage_history: list[tuple[str, str]]
    first_seen: str
    last_seen: str
    purchases: int
    revenue: float
    cart_value: float
    counts: dict[str, dict[str, int]]
    """Per event type, its count in each window (`1h`, `24h`, `7d`, `30d`) up to `at`."""
    timers: list[PendingTimer]
    triggers: list[Lineage]
    scanned: int
    """Trigger stream entries scanned to find `triggers`."""


def explain_contact(
    client: redis.Redis,
    prefix: str,
    contact: str,
    rules: Rules,
    *,
    at_ms: int | str | None = None,
    limit: int = 10,
    scan_limit: int = 1_000_000,
    events_path: Path | None = None,
) -> Explanation | None:
    """Explain one contact under `rules` at `at_ms` (default its last event); `None` if unknown.

    `at_ms` may be text for `pulse.times.parse_time`: `+2h`/`-1d` count from the last event.
    """
    layout = layout_for(client, prefix)
    store = ContactStore(client, layout)
    state = store.read_contact(contact)
    if state is None:
        return None
    if isinstance(at_ms, str):
        try:
            at_ms = parse_time(at_ms, base_ms=state.last_ts)
        except ValueError as exc:
            raise ConfigError(f"`--at`: {exc}") from None
    at = at_ms if at_ms is not None else state.last_ts
    model = store.load_model(rules.model) if rules.model.enabled else None
    score = Journey(rules, model).score(state, at)
    parts = _rule_parts(state.points, state.points_ts, at, rules)
    parts += _parts_beyond_rules(score, score_at(state, at, rules.scoring), rules)
    # score_breakdown decides what a rule part is; a part it does not return is not shown.
    shown = score_breakdown(state, at, rules.scoring)
    parts = [p for p in parts if p.kind != "rule" or p.name in shown]
    triggers, scanned = recent_triggers(
        client,
        layout.group_triggers(layout.group(contact)),
        contact,
        limit=limit,
        scan_limit=scan_limit,
    )
    events = _find_events(events_path, contact, triggers) if events_path else {}
    lineage = [
        Lineage(
            trigger=t,
            is_current_rules=t.rules_version == rules.version,
            points_then=t.reason.get("points"),
            model_p_then=t.reason.get("model_p"),
            model_points_then=t.reason.get("model_points"),
            events=[events[i] for i in _referenced(t) if i in events],
        )
        for t in triggers
    ]
    timers = [
        PendingTimer(
            slot=slot, trigger=timer.trigger, due=iso_ms(timer.due_ms),
            armed_by=timer.episode, is_overdue=timer.due_ms < at,
        )
        for slot, timer in sorted(state.timers.items(), key=lambda kv: kv[1].due_ms)
    ]  # fmt: skip
    return Explanation(
        contact=contact,
        at=iso_ms(at),
        rules_version=rules.version,
        score=score,
        parts=parts,
        points_at=iso_ms(state.points_ts),
        half_life=format_duration(rules.scoring.half_life.ms),
        total_cap=rules.scoring.total_cap,
        stage=state.stage,
        stage_history=[(iso_ms(ts), stage) for ts, stage in state.stage_history],
        first_seen=iso_ms(state.first_ts),
        last_seen=iso_ms(state.last_ts),
        purchases=state.purchases,
        revenue=round(state.revenue, 2),
        cart_value=round(state.cart_value(), 2),
        counts={
            type_: {name: windows.count(buckets, at, ms) for name, ms in windows.WINDOWS_MS.items()}
            for type_, buckets in sorted(state.counts.items())
        },
        timers=timers,
        triggers=lineage,
        scanned=scanned,
    )


def _rule_parts(points: dict[str, float], points_ts: int, at: int, rules: Rules) -> list[Part]:
    """Each rule's held points, the decay since the last update, and what is left."""
    by_name = {rule.name: rule for rule in rules.scoring.rules}
    factor = decay_factor(at - points_ts, rules.scoring.half_life.ms)
    parts = []
    for name, held in points.items():
        rule = by_name.get(name)
        parts.append(
            Part(
                name=name,
                points=round(held * factor, 3),
                event=rule.event if rule else None,
                points_per_event=rule.points if rule else None,
                cap=rule.cap if rule else None,
                condition=rule.when if rule else None,
                held=round(held, 3),
                decay=round(factor, 4),
                note="" if rule else "no longer in the rules: its points decay away",
            )
        )
    return sorted(parts, key=lambda p: -abs(p.points))


def _parts_beyond_rules(score: float, points: float, rules: Rules) -> list[Part]:
    """What the blended score holds beyond the (capped) rule points: the model part."""
    extra = round(score - points, 3)
    if not extra:
        return []
    note = (
        f"the purchase probability on the points scale, at most {rules.model.weight:g} "
        "points either way: today's model on the probability given at the last event "
        "(each trigger shows the model part it fired with)"
    )
    return [Part(name="model", kind="model", points=extra, note=note)]


def _referenced(trigger: Trigger) -> list[str]:
    return [str(trigger.reason[k]) for k in _EVENT_REFERENCES if k in trigger.reason]


def _find_events(path: Path, contact: str, triggers: list[Trigger]) -> dict[str, dict[str, Any]]:
    """The events the triggers' reasons name, read from a JSONL events file (or `.gz`).

    A reference is an `event_id`, or an order id (`post_purchase` is armed by an
    order: the purchase whose `props.order_id` it is).
    """
    wanted = {i for t in triggers for i in _referenced(t)}
    # The file names an anonymous contact by its `anonymous_id`, not by its key `anon:<id>`.
    needle = contact.removeprefix(_ANON).encode()
    found: dict[str, dict[str, Any]] = {}
    with path.open("rb") as raw:
        lines = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == b"\x1f\x8b" else raw
        for line in lines:
            if needle not in line:
                continue  # cheap filter before decoding: the line must mention the contact
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(event, dict):
                continue
            props = event.get("props")
            order = props.get("order_id") if isinstance(props, dict) else None
            for reference in (event.get("event_id"), order):
                if reference is not None and str(reference) in wanted:
                    found.setdefault(str(reference), event)
            if len(found) == len(wanted):
                break
    return found


_ANON = "anon:"
