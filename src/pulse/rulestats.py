"""What each point rule did in a run: events matched, points added, stage moves, triggers.

The journey counts, per point rule, into the run counters that every batch
commits to Redis (`<prefix>:stats`, see `pulse.journey.Journey.rule_stats`):

* `rule:<name>:hits` - events the rule matched (its event type, its `when` held);
* `rule:<name>:points_milli` - points it added, in thousandths (after its cap;
  a late event's points land already decayed);
* `rule:<name>:stage_moves` - events it scored on which the contact changed stage;
* `rule:<name>:triggers` - triggers fired by an event it scored (a `sales_ready`
  crossing: the rule's points were among the last added).

`rule_stats` turns those counters back into one `RuleStat` per rule, the rules
file's rules first (so a rule that matched nothing is listed, flagged), then
names only the counters know (a rule since removed). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from pulse.rules import Rules

__all__ = ["RuleStat", "rule_stats", "zero_hit_warnings"]

_FIELDS = ("hits", "points_milli", "stage_moves", "triggers")


class RuleStat(msgspec.Struct, kw_only=True):
    """One point rule's effect in a run."""

    rule: str
    event: str | None = None
    """The event type it scores (`None`: not in the rules file)."""
    hits: int = 0
    points: float = 0.0
    stage_moves: int = 0
    triggers: int = 0


def rule_stats(counters: Mapping[str, int], rules: Rules | None = None) -> list[RuleStat]:
    """Per point rule, what it did: `rules`' rules in file order, then any other counted.

    >>> stats = rule_stats({"rule:cart:hits": 3, "rule:cart:points_milli": 15000,
    ...                     "rule:old:hits": 1, "events": 9})
    >>> [(s.rule, s.hits, s.points) for s in stats]
    [('cart', 3, 15.0), ('old', 1, 0.0)]
    """
    found: dict[str, dict[str, int]] = {}
    for key, value in counters.items():
        if not key.startswith("rule:"):
            continue
        name, _, field = key[5:].rpartition(":")
        if name and field in _FIELDS:
            found.setdefault(name, {})[field] = value
    stats: list[RuleStat] = []
    declared = rules.scoring.rules if rules is not None else []
    for rule in declared:
        stats.append(_stat(rule.name, rule.event, found.pop(rule.name, {})))
    stats += [_stat(name, None, values) for name, values in sorted(found.items())]
    return stats


def _stat(name: str, event: str | None, values: dict[str, int]) -> RuleStat:
    return RuleStat(
        rule=name,
        event=event,
        hits=values.get("hits", 0),
        points=round(values.get("points_milli", 0) / 1000, 3),
        stage_moves=values.get("stage_moves", 0),
        triggers=values.get("triggers", 0),
    )


def zero_hit_warnings(stats: list[RuleStat]) -> list[str]:
    """One line per rule of the rules file that matched no event.

    >>> zero_hit_warnings([RuleStat(rule="luxury_product_view", event="product_view")])
    ['`luxury_product_view` matched 0 events (event `product_view`)']
    """
    return [
        f"`{s.rule}` matched 0 events (event `{s.event}`)"
        for s in stats
        if s.event is not None and not s.hits
    ]
