"""Priority and mutual exclusion (`pulse.exclusion`, through `pulse.guardrails.decide`)."""

from __future__ import annotations

from pulse.contact import ContactState
from pulse.exclusion import excluded_by, rivals_of
from pulse.guardrails import decide, record_send
from pulse.rules import ExclusionGroup, Guardrails
from pulse.spec import Duration

_DAY = 86_400_000
_GROUP = ExclusionGroup(triggers=["cart", "browse", "rescue"], within=Duration(_DAY))
RULES = Guardrails(exclusive=[_GROUP])
PRIORITIES = {"cart": 2, "browse": 1, "rescue": 1, "welcome": 0}
RIVALS = rivals_of(PRIORITIES, RULES)


def _sent(state: ContactState, trigger: str, at_ms: int) -> None:
    record_send(state, trigger, "email", at_ms, RULES)


def test_lower_priority_after_a_higher_one_within_the_window_is_excluded() -> None:
    state = ContactState()
    _sent(state, "cart", 1_000)
    verdict = decide(
        state, "c1", "browse", "email", 1_000 + _DAY - 1, RULES, rivals=RIVALS["browse"]
    )
    assert (verdict.decision, verdict.reason, verdict.by) == ("suppressed", "excluded", "cart")


def test_lower_priority_after_the_window_is_sent() -> None:
    state = ContactState()
    _sent(state, "cart", 1_000)
    verdict = decide(state, "c1", "browse", "email", 1_000 + _DAY, RULES, rivals=RIVALS["browse"])
    assert verdict.decision == "sent"


def test_higher_priority_after_a_lower_one_is_still_sent() -> None:
    state = ContactState()
    _sent(state, "browse", 1_000)
    verdict = decide(state, "c1", "cart", "email", 2_000, RULES, rivals=RIVALS["cart"])
    assert verdict.decision == "sent"


def test_equal_priorities_the_first_sent_wins() -> None:
    state = ContactState()
    _sent(state, "rescue", 1_000)
    verdict = decide(state, "c1", "browse", "email", 2_000, RULES, rivals=RIVALS["browse"])
    assert verdict.by == "rescue"


def test_triggers_outside_the_group_are_never_excluded() -> None:
    state = ContactState()
    _sent(state, "cart", 1_000)
    assert RIVALS["welcome"] == ()
    assert decide(state, "c1", "welcome", "email", 2_000, RULES).decision == "sent"


def test_the_newest_winner_is_named() -> None:
    state = ContactState(last_sent={"cart": 1_000, "rescue": 5_000})
    assert excluded_by(state, RIVALS["browse"], 6_000) == "rescue"


def test_grouped_sends_are_remembered_without_a_cooldown() -> None:
    state = ContactState()
    _sent(state, "browse", 7_000)
    _sent(state, "welcome", 8_000)
    assert state.last_sent == {"browse": 7_000}
