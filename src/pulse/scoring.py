"""Lead scores from rule points with continuous decay, and lifecycle stages.

Points decay in event time: a rule's points are `p * 2^(-dt / half_life)`,
applied lazily when the contact is next touched. An event that arrives out of
order adds its points already decayed to the contact's current score time, so
the score does not depend on arrival order (caps aside).
"""

from __future__ import annotations

from typing import Any

from pulse import windows
from pulse.contact import STAGES, ContactState
from pulse.rules import PointRule, Rules, Scoring, Stages
from pulse.traits import trait_view

__all__ = [
    "STAGES",
    "add_points",
    "advance",
    "contact_view",
    "decay_factor",
    "held_score",
    "score_at",
    "score_breakdown",
    "stage_of",
]


def decay_factor(elapsed_ms: int, half_life_ms: int) -> float:
    """The share of points left after `elapsed_ms`.

    >>> decay_factor(1000, 1000)
    0.5
    >>> decay_factor(-5, 1000)
    1.0
    """
    if elapsed_ms <= 0:
        return 1.0
    return float(2.0 ** (-elapsed_ms / half_life_ms))


def _advance(state: ContactState, ts_ms: int, half_life_ms: int) -> None:
    if ts_ms <= state.points_ts:
        return
    factor = decay_factor(ts_ms - state.points_ts, half_life_ms)
    state.points = {name: value * factor for name, value in state.points.items() if value * factor}
    state.points_ts = ts_ms


def add_points(state: ContactState, rule: PointRule, ts_ms: int, scoring: Scoring) -> None:
    """Add one rule's points at `ts_ms`, decaying first and applying the rule cap."""
    half_life_ms = scoring.half_life.ms
    _advance(state, ts_ms, half_life_ms)
    points = rule.points * decay_factor(state.points_ts - ts_ms, half_life_ms)
    value = state.points.get(rule.name, 0.0) + points
    if rule.cap is not None:
        value = min(value, rule.cap)
    state.points[rule.name] = value


def advance(state: ContactState, ts_ms: int, scoring: Scoring) -> float:
    """Decay the held points to `ts_ms` (if later) and return the score there.

    The event step's one decay: the points a rule then adds land on points already
    at the event's time, and the score before and after are plain sums.
    """
    _advance(state, ts_ms, scoring.half_life.ms)
    return held_score(state, scoring)


def held_score(state: ContactState, scoring: Scoring) -> float:
    """The score of the points as held (at `points_ts`), clamped to `[0, total_cap]`."""
    return round(min(max(sum(state.points.values()), 0.0), scoring.total_cap), 3)


def score_at(state: ContactState, ts_ms: int, scoring: Scoring) -> float:
    """The contact's decayed score at `ts_ms`, clamped to `[0, total_cap]`."""
    factor = decay_factor(ts_ms - state.points_ts, scoring.half_life.ms)
    total = sum(state.points.values()) * factor
    return round(min(max(total, 0.0), scoring.total_cap), 3)


def score_breakdown(state: ContactState, ts_ms: int, scoring: Scoring) -> dict[str, float]:
    """Each rule's decayed contribution at `ts_ms`, largest first."""
    factor = decay_factor(ts_ms - state.points_ts, scoring.half_life.ms)
    parts = {name: round(value * factor, 3) for name, value in state.points.items()}
    return dict(sorted(parts.items(), key=lambda item: -abs(item[1])))


def stage_of(state: ContactState, score: float, stages: Stages) -> str:
    """The lifecycle stage a contact is in, from its flags, purchases and score."""
    if state.lost:
        return "lost"
    if state.purchases >= stages.loyal_purchases:
        return "loyal"
    if state.purchases >= 1:
        return "customer"
    if score >= stages.decision_score or (stages.cart_means_decision and state.has_cart()):
        return "decision"
    if score >= stages.consideration_score:
        return "consideration"
    return "awareness"


def contact_view(state: ContactState, ts_ms: int, rules: Rules) -> dict[str, Any]:
    """The `contact` a condition sees: score, stage, purchases, cart, activity counts, traits."""
    total = {w: 0 for w in ("24h", "7d", "30d")}
    for buckets in state.counts.values():
        for name in total:
            total[name] += windows.count(buckets, ts_ms, windows.WINDOWS_MS[name])
    return {
        "score": score_at(state, ts_ms, rules.scoring),
        "stage": state.stage,
        "purchases": state.purchases,
        "revenue": state.revenue,
        "cart_value": state.cart_value(),
        "events_24h": total["24h"],
        "events_7d": total["7d"],
        "events_30d": total["30d"],
        "traits": trait_view(state),
    }
