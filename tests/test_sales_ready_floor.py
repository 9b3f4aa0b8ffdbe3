"""`sales_ready`'s `min_points`: a score over the threshold fires only with enough rule points.

With the model on, the score ranks as the model's probability, which peaks with single
events; the floor on rule points keeps such a peak alone from flagging a contact that
has done little. With the model off the score is the points, so the floor never bites:
hence this test of the rule itself, with the score and points given.
"""

from __future__ import annotations

from pulse.contact import ContactState
from pulse.events import Event
from pulse.journey import Journey
from pulse.rules import parse_rules
from pulse.triggers import Trigger

RULES = """
model: {enabled: false}
triggers:
  - {kind: sales_ready, threshold: 60, rearm_below: 40, min_points: 30, channel: crm}
"""


def fire(score: float, points: float) -> list[Trigger]:
    journey = Journey(parse_rules(RULES))
    state = ContactState(sales_ready_armed=True)
    event = Event("e1", "page_view", 1_000, "c1", "c1", None, {})
    out: list[Trigger] = []
    journey._check_sales_ready(state, event, (10.0, 10.0), (score, points), out)
    return out


def test_a_score_over_the_threshold_with_few_points_does_not_fire() -> None:
    assert fire(score=75.0, points=12.0) == []


def test_a_score_over_the_threshold_with_enough_points_fires() -> None:
    (trigger,) = fire(score=75.0, points=30.0)
    assert trigger.trigger == "sales_ready" and trigger.contact_id == "c1"
