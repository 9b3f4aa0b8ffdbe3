"""Why a contact is where it is: its score part by part, its stages, timers and triggers.

`explain_contact` reads one contact's state and recent triggers from Redis and
returns an `Explanation`:

* the score at a moment, with every part: each rule's points as held at the
  contact's last update, the decay applied since (`2^(-elapsed / half_life)`),
  and what is left; plus whatever else the blended score holds (the model part);
* the stage history and the pending timers (what will fire, when, armed by what);
* the recent triggers with their lineage: the rules version they fired under
  (and whether it is the one loaded now), the facts in their `reason`, and the
  events named there (`armed_by`, `event`), looked up in an events file if given.

Triggers are found by scanning the trigger stream newest first (bounded by
`scan_limit`): explain is an offline tool, never on the hot path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import orjson
import redis

from pulse.duration import format_duration
from pulse.journey import Journey
from pulse.readback import recent_triggers
from pulse.rules import Rules
from pulse.scoring import decay_factor, score_at, score_breakdown
from pulse.state import ContactStore, KeyLayout
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
    at_ms: int | None = None,
    limit: int = 10,
    scan_limit: int = 1_000_000,
    events_path: Path | None = None,
) -> Explanation | None:
    """Explain one contact under `rules` at `at_ms` (default its last event); `None` if unknown."""
    layout = KeyLayout(prefix)
    store = ContactStore(client, layout)
    state = store.read_contact(contact)
    if state is None:
        return None
    at = at_ms if at_ms is not None else state.last_ts
    model = store.load_model(rules.model) if rules.model.enabled else None
    score = Journey(rules, model).score(state, at)
    parts = _rule_parts(state.points, state.points_ts, at, rules)
    parts += _parts_beyond_rules(score, score_at(state, at, rules.scoring), rules)
    # score_breakdown decides what a rule part is; a part it does not return is not shown.
    shown = score_breakdown(state, at, rules.scoring)
    parts = [p for p in parts if p.kind != "rule" or p.name in shown]
    triggers, scanned = recent_triggers(
        client, layout.triggers, contact, limit=limit, scan_limit=scan_limit
    )
    events = _find_events(events_path, contact, triggers) if events_path else {}
    lineage = [
        Lineage(
            trigger=t,
            is_current_rules=t.rules_version == rules.version,
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
        "points either way"
    )
    return [Part(name="model", kind="model", points=extra, note=note)]


def _referenced(trigger: Trigger) -> list[str]:
    return [str(trigger.reason[k]) for k in _EVENT_REFERENCES if k in trigger.reason]


def _find_events(path: Path, contact: str, triggers: list[Trigger]) -> dict[str, dict[str, Any]]:
    """The events the triggers' reasons name, read from a JSONL events file."""
    wanted = {i for t in triggers for i in _referenced(t)}
    needle = contact.encode()
    found: dict[str, dict[str, Any]] = {}
    with path.open("rb") as lines:
        for line in lines:
            if needle not in line:
                continue  # cheap filter before decoding: the line must mention the contact
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("event_id") in wanted:
                found[event["event_id"]] = event
                if len(found) == len(wanted):
                    break
    return found
