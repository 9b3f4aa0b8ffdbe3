"""Sequences (`pulse.sequences`): the pure functions, and steps through the journey."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pulse.contact import ContactState, Timer
from pulse.events import Event
from pulse.journey import Journey
from pulse.rules import parse_rules
from pulse.sequences import end_on, slot_of, start, step_episode
from pulse.spec import Duration, SequenceStep, reentry
from pulse.triggers import Trigger, Welcome, trigger_id

_H = 3_600_000
_D = 24 * _H
_T0 = 1767603600000  # 2026-01-05T09:00:00Z


def _welcome(name: str = "welcome", **fields: Any) -> Welcome:
    steps = [SequenceStep(name="tips", after=Duration(2 * _D))]
    return Welcome(name=name, steps=steps, **fields)


def test_start_arms_the_first_step_after_the_start_and_remembers_it() -> None:
    state, skipped = ContactState(), Counter[str]()
    assert start(state, _welcome(), "e1", _T0, 3, skipped)
    assert state.timers == {"sequence>welcome>tips": Timer(_T0 + 2 * _D, "e1", "welcome")}
    assert state.sequence_starts == {"welcome": _T0} and not skipped


def test_reentry_after_a_duration_refuses_a_start_before_it_and_allows_one_after() -> None:
    spec, state, skipped = _welcome(reentry=reentry("30d")), ContactState(), Counter[str]()
    start(state, spec, "e1", _T0, 3, skipped)
    assert not start(state, spec, "e2", _T0 + 29 * _D, 3, skipped)
    assert skipped == {"sequence_reentry_refused:welcome": 1}
    assert start(state, spec, "e3", _T0 + 30 * _D, 3, skipped)
    assert state.timers["sequence>welcome>tips"].episode == "e3"


def test_a_new_start_replaces_the_open_sequence_of_the_same_trigger_and_is_counted() -> None:
    state, skipped = ContactState(), Counter[str]()
    start(state, _welcome(), "e1", _T0, 1, skipped)
    assert start(state, _welcome(), "e2", _T0 + _H, 1, skipped)  # max 1: a replacement fits
    assert list(state.timers.values()) == [Timer(_T0 + _H + 2 * _D, "e2", "welcome")]
    assert skipped == {"sequence_replaced:welcome": 1}


def test_a_start_beyond_max_active_is_counted_and_arms_nothing() -> None:
    state, skipped = ContactState(), Counter[str]()
    start(state, _welcome(name="one"), "e1", _T0, 1, skipped)
    assert not start(state, _welcome(name="two"), "e2", _T0, 1, skipped)
    assert list(state.timers) == ["sequence>one>tips"]
    assert skipped == {"sequences_over_cap": 1}


def _ev(n: int, type_: str, ts_ms: int, **props: Any) -> Event:
    return Event(f"e{n}", type_, ts_ms, "c1", "c1", None, props)


def _open_two() -> ContactState:
    return ContactState(
        timers={
            slot_of("welcome", "tips"): Timer(_T0 + _D, "w", "welcome"),
            slot_of("abandon_cart", "again"): Timer(_T0 + _D, "a", "abandon_cart"),
            "abandon_cart": Timer(_T0 + _H, "a", "abandon_cart"),
        }
    )


def test_an_exit_event_ends_only_the_sequences_that_list_it() -> None:
    state, skipped = _open_two(), Counter[str]()
    end_on(state, _ev(1, "purchase", _T0), {"abandon_cart": frozenset({"purchase"})}, skipped)
    assert set(state.timers) == {"sequence>welcome>tips", "abandon_cart"}
    assert skipped == {"sequence_exited:abandon_cart": 1}


def test_an_unsubscribe_from_everything_ends_every_sequence_but_not_other_timers() -> None:
    state, skipped = _open_two(), Counter[str]()
    end_on(state, _ev(1, "unsubscribe", _T0), {}, skipped)
    assert set(state.timers) == {"abandon_cart"}
    assert skipped == {"sequence_exited:welcome": 1, "sequence_exited:abandon_cart": 1}


def test_an_unsubscribe_from_one_channel_ends_no_sequence() -> None:
    state, skipped = _open_two(), Counter[str]()
    end_on(state, _ev(1, "unsubscribe", _T0, channel="sms"), {}, skipped)
    assert len(state.timers) == 3 and not skipped


RULES = """
triggers:
  - kind: welcome
    channel: email
    goal: purchase
    steps:
      - {name: tips, after: 2d}
      - {name: offer, after: 5d, channel: sms}
    exit_on: [purchase]
guardrails:
  cooldowns: {welcome: 30d}
"""


def _run(
    events: list[Event], until_ms: int, rules: str = RULES, state: ContactState | None = None
) -> tuple[list[Trigger], Journey]:
    journey, out = Journey(parse_rules(rules)), []
    state = state or ContactState(has_phone=True)
    for event in events:
        journey.apply(state, event, out)
    journey.fire_due(state, "c1", until_ms, out)
    return out, journey


def test_steps_get_ids_from_the_first_record_and_their_name_and_skip_the_cooldown() -> None:
    out, _ = _run([_ev(1, "signup", _T0)], _T0 + 6 * _D)
    first = trigger_id("c1", "welcome", "e1")
    assert [t.trigger_id for t in out] == [
        first,
        trigger_id("c1", "welcome", step_episode(first, "tips")),
        trigger_id("c1", "welcome", step_episode(first, "offer")),
    ]
    assert [(t.ts_ms - _T0, t.channel, t.decision) for t in out] == [
        (0, "email", "sent"), (2 * _D, "email", "sent"), (5 * _D, "sms", "sent")
    ]  # fmt: skip
    assert out[2].reason["sequence_of"] == first and out[2].reason["step"] == "offer"


def test_a_step_opens_no_second_goal_window() -> None:
    out, journey = _run([_ev(1, "signup", _T0)], _T0 + 6 * _D)
    assert len(out) == 3 and journey.outcomes["lift:welcome::sent:exposed"] == 1


def test_an_exit_at_a_steps_due_time_ends_it_before_it_fires() -> None:
    events = [_ev(1, "signup", _T0), _ev(2, "purchase", _T0 + 2 * _D, revenue=5.0)]
    out, journey = _run(events, _T0 + 6 * _D)
    assert len(out) == 1 and journey.skipped["sequence_exited:welcome"] == 1


def test_a_suppressed_first_trigger_starts_no_sequence_and_is_counted() -> None:
    state = ContactState(has_email=False)  # no address: the welcome is suppressed
    out, journey = _run([_ev(1, "signup", _T0)], _T0 + 6 * _D, state=state)
    assert [(t.decision, t.suppressed_reason) for t in out] == [("suppressed", "no_address")]
    assert journey.skipped["sequence_not_started:welcome"] == 1


def test_a_step_that_finds_the_contact_lost_ends_the_sequence() -> None:
    journey, state, out = Journey(parse_rules(RULES)), ContactState(has_phone=True), []
    journey.apply(state, _ev(1, "signup", _T0), out)
    state.lost = True  # `lost_customer` marked it between the steps
    journey.fire_due(state, "c1", _T0 + 6 * _D, out)
    assert [t.suppressed_reason for t in out] == [None, "lost"]
    assert not state.timers or all(not s.startswith("sequence>") for s in state.timers)


def test_a_merge_moves_the_open_sequence_and_its_start_into_the_known_contact() -> None:
    from pulse.identity import merge_states
    from pulse.rules import Scoring

    anon, known = ContactState(last_ts=_T0), ContactState()
    start(anon, _welcome(), "e1", _T0, 3, Counter())
    merge_states(known, anon, Scoring())
    assert "sequence>welcome>tips" in known.timers
    assert known.sequence_starts == {"welcome": _T0}
