"""`sales_ready`'s `min_points`: a score over the threshold fires only with enough rule points.

With the model on, the score ranks as the model's probability, which peaks with single
events; the floor on rule points keeps such a peak alone from flagging a contact that
has done little. With the model off the score is the points, so the floor never bites:
hence this test of the rule itself, with the score and points given.
"""

from __future__ import annotations

from collections import Counter

from pulse.contact import ContactState
from pulse.events import Event
from pulse.rules import parse_rules
from pulse.triggers import SalesReady, TriggerSpecBase
from pulse.triggers.base import Reason
from pulse.triggers.sales_ready import KIND

RULES = parse_rules("""
model: {enabled: false}
triggers:
  - {kind: sales_ready, threshold: 60, rearm_below: 40, min_points: 30, channel: crm}
""")


class RecordingStep:
    """The journey as the kind sees it (`pulse.triggers.base.Step`), with the score facts
    given and the emitted triggers recorded."""

    def __init__(self, score: float, points: float) -> None:
        self.rules, self.model, self.skipped = RULES, None, Counter[str]()
        self.is_back, self.features = False, None
        self.score_before = self.points_before = 10.0
        self.score_after, self.points_after = score, points
        self.emitted: list[tuple[str, str]] = []

    def emit(
        self,
        state: ContactState,
        key: str,
        spec: TriggerSpecBase,
        ts: int,
        episode: str,
        reason: Reason,
        *,
        memory: str = "",
    ) -> bool:
        self.emitted.append((spec.name, key))
        return True

    def credit(self, what: str) -> None:
        pass

    def set_stage(self, state: ContactState, ts: int, stage: str) -> None:
        state.stage = stage


def fire(score: float, points: float) -> list[tuple[str, str]]:
    (spec,) = RULES.triggers
    assert isinstance(spec, SalesReady)
    step = RecordingStep(score, points)
    event = Event("e1", "page_view", 1_000, "c1", "c1", None, {})
    KIND.after_scoring(step, spec, ContactState(sales_ready_armed=True), event)
    return step.emitted


def test_a_score_over_the_threshold_with_few_points_does_not_fire() -> None:
    assert fire(score=75.0, points=12.0) == []


def test_a_score_over_the_threshold_with_enough_points_fires() -> None:
    assert fire(score=75.0, points=30.0) == [("sales_ready", "c1")]
