"""Channel choice and fallback (`pulse.channels`), as pure functions and through the journey."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pulse import windows
from pulse.channels import (
    MAX_PENDING_FALLBACKS,
    arm_fallback,
    choose,
    is_eligible,
    options_of,
)
from pulse.contact import Consent, ContactState
from pulse.events import Event
from pulse.journey import Journey
from pulse.rules import parse_rules
from pulse.spec import ChannelOption, Duration
from pulse.triggers import Trigger, Welcome, trigger_id

_H = 3_600_000
_T0 = 1767603600000  # 2026-01-05T09:00:00Z


def test_a_single_channel_is_a_one_entry_list() -> None:
    assert options_of(Welcome(channel="crm")) == (ChannelOption(channel="crm"),)
    assert options_of(Welcome()) == ()


def test_first_eligible_channel_is_chosen() -> None:
    options = options_of(
        Welcome(
            channels=[
                ChannelOption(channel="email", require=["consented"]),
                ChannelOption(channel="sms", require=["has_address"]),
                "push",
            ]
        )
    )
    unsubscribed = ContactState(consent={"email": Consent(False, 0, "unsubscribed")})
    assert choose(options, 0, ContactState(), "c1", 0, False) == 0
    assert choose(options, 0, unsubscribed, "c1", 0, False) == 2  # no phone: push
    unsubscribed.has_phone = True
    assert choose(options, 0, unsubscribed, "c1", 0, False) == 1
    assert choose(options, 3, unsubscribed, "c1", 0, False) is None


def test_engaged_within_needs_an_open_or_click_on_that_channel_in_the_window() -> None:
    option = ChannelOption(channel="email", engaged_within=Duration(7 * 24 * _H))
    state = ContactState()
    windows.add(state.counts.setdefault("sms_click", []), _T0)
    assert not is_eligible(option, state, "c1", _T0 + _H, False)  # sms is another channel
    windows.add(state.counts.setdefault("email_click", []), _T0)
    assert is_eligible(option, state, "c1", _T0 + _H, False)
    assert not is_eligible(option, state, "c1", _T0 + 9 * 24 * _H, False)  # too long ago


def test_pending_fallbacks_are_capped_per_contact_and_what_is_turned_away_counted() -> None:
    state, skipped = ContactState(), Counter[str]()
    for n in range(MAX_PENDING_FALLBACKS + 2):
        arm_fallback(state, f"t{n}", "e", "email", _T0, skipped)
    assert len(state.timers) == MAX_PENDING_FALLBACKS
    assert skipped["fallbacks_over_cap"] == 2


def test_a_new_send_replaces_the_trigger_s_pending_fallback() -> None:
    state, skipped = ContactState(), Counter[str]()
    arm_fallback(state, "cart", "e1", "email", _T0, skipped)
    arm_fallback(state, "cart", "e2", "sms", _T0 + _H, skipped)
    assert [(slot, t.episode) for slot, t in state.timers.items()] == [("fallback>cart>sms", "e2")]


# -- through the journey ------------------------------------------------------------------

RULES = """
model: {enabled: false}
triggers:
  - kind: abandon_cart
    channels: [email, {channel: sms, require: [has_address]}]
    fallback_after: 48h
guardrails:
  cooldowns: {abandon_cart: 7d}
  quiet_hours: {start: "22:00", end: "07:00", channels: [email]}
"""


def _event(n: int, type_: str, ts_ms: int, **props: Any) -> Event:
    return Event(f"e{n}", type_, ts_ms, "c1", "c1", None, props)


def _run(events: list[Event], until_ms: int, rules: str = RULES) -> tuple[list[Trigger], Journey]:
    journey, state, out = Journey(parse_rules(rules)), ContactState(has_phone=True), []
    for event in events:
        journey.apply(state, event, out)
    journey.fire_due(state, "c1", until_ms, out)
    return out, journey


def test_fallback_names_the_first_trigger_id_and_skips_the_cooldown() -> None:
    out, _ = _run([_event(1, "add_to_cart", _T0, product_id="p1", price=5.0)], _T0 + 72 * _H)
    first, second = out
    assert (first.channel, second.channel) == ("email", "sms")
    assert first.trigger_id == trigger_id("c1", "abandon_cart", "e1")
    assert second.reason["fallback_of"] == first.trigger_id != second.trigger_id
    assert second.ts_ms == first.ts_ms + 48 * _H and second.decision == "sent"


def test_fallback_of_a_deferred_send_waits_from_the_end_of_quiet_hours() -> None:
    late = _T0 + 13 * _H  # add at 22:00 UTC: the reminder at 22:30 is deferred to 07:00
    out, _ = _run([_event(1, "add_to_cart", late, product_id="p1", price=5.0)], late + 96 * _H)
    first, second = out
    assert first.decision == "deferred" and first.deferred_until == "2026-01-06T07:00:00.000Z"
    assert second.ts == "2026-01-08T07:00:00.000Z"


def test_engagement_on_another_channel_does_not_cancel_but_on_the_channel_does() -> None:
    add = _event(1, "add_to_cart", _T0, product_id="p1", price=5.0)
    other = _event(2, "email_open", _T0 + 2 * _H, channel="sms")
    out, _ = _run([add, other], _T0 + 72 * _H)
    assert len(out) == 2
    out, _ = _run([add, _event(3, "email_click", _T0 + 2 * _H)], _T0 + 72 * _H)
    assert len(out) == 1


def test_a_fallback_with_no_eligible_channel_left_is_counted() -> None:
    journey, state, out = Journey(parse_rules(RULES)), ContactState(has_phone=True), []
    journey.apply(state, _event(1, "add_to_cart", _T0, product_id="p1", price=5.0), out)
    journey.fire_due(state, "c1", _T0 + _H, out)
    state.has_phone = False  # an identify said the phone is gone before the fallback
    journey.fire_due(state, "c1", _T0 + 72 * _H, out)
    assert len(out) == 1 and journey.skipped["fallback_no_channel"] == 1


def test_a_fallback_opens_no_second_goal_window() -> None:
    out, journey = _run([_event(1, "add_to_cart", _T0, product_id="p1", price=5.0)], _T0 + 72 * _H)
    assert len(out) == 2
    assert journey.outcomes["lift:abandon_cart::sent:exposed"] == 1
