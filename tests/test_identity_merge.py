"""Merging an anonymous state into a known contact (`pulse.identity.merge_states`)."""

from __future__ import annotations

from pulse.contact import Attribution, ContactState, Timer
from pulse.identity import merge_states
from pulse.lift import ATTRIBUTION_SLOT
from pulse.rules import Scoring


def with_window(trigger: str, fired_ms: int, due_ms: int) -> ContactState:
    state = ContactState(first_ts=fired_ms, last_ts=fired_ms, last_active_ts=fired_ms)
    state.attributions = [Attribution(trigger, "", "sent", fired_ms, due_ms)]
    state.timers = {ATTRIBUTION_SLOT: Timer(due_ms, "", ATTRIBUTION_SLOT)}
    return state


def test_open_goal_windows_move_to_the_contact_and_the_earliest_closes_first() -> None:
    known = with_window("welcome", 5_000, 900_000)
    anonymous = with_window("browse_abandon", 1_000, 600_000)
    merge_states(known, anonymous, Scoring())
    assert [a.trigger for a in known.attributions] == ["browse_abandon", "welcome"]
    assert known.timers[ATTRIBUTION_SLOT].due_ms == 600_000


def test_a_contact_without_windows_takes_the_anonymous_ones() -> None:
    known = ContactState(first_ts=2_000, last_ts=2_000)
    anonymous = with_window("web_offer", 1_000, 600_000)
    merge_states(known, anonymous, Scoring())
    assert known.attributions == anonymous.attributions
    assert known.timers[ATTRIBUTION_SLOT].due_ms == 600_000
