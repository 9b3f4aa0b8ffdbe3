"""Frequency caps (`pulse.caps`): rolling windows, local calendar days, and `all` channels."""

from __future__ import annotations

from pulse.caps import is_capped, record
from pulse.contact import ContactState
from pulse.localtime import day_bounds_ms
from pulse.rules import FrequencyCap, Guardrails
from pulse.spec import cap_span

_H = 3_600_000
_JAN5 = 1767571200000  # 2026-01-05T00:00:00Z


def _rules(*caps: FrequencyCap, timezone: str = "UTC") -> Guardrails:
    return Guardrails(frequency_caps=list(caps), default_timezone=timezone)


def test_calendar_day_cap_resets_at_local_midnight_not_24_hours_later() -> None:
    rules = _rules(FrequencyCap(channel="email", max=1, per=cap_span("day")))
    state = ContactState(timezone="America/New_York")  # midnight is 05:00 UTC in January
    record(state, "email", True, _JAN5 + 20 * _H, rules)
    assert is_capped(state, "email", True, _JAN5 + 28 * _H, rules)  # 23:00 local, same day
    assert not is_capped(state, "email", True, _JAN5 + 30 * _H, rules)  # 01:00 local, next day


def test_calendar_day_cap_uses_the_default_zone_without_a_trait() -> None:
    rules = _rules(FrequencyCap(channel="email", max=1, per=cap_span("day")), timezone="Asia/Tokyo")
    state = ContactState()
    record(state, "email", True, _JAN5 + 10 * _H, rules)  # 19:00 in Tokyo
    assert not is_capped(state, "email", True, _JAN5 + 16 * _H, rules)  # 01:00 the next day


def test_rolling_cap_counts_the_window_before_the_trigger() -> None:
    rules = _rules(FrequencyCap(channel="email", max=2, per=cap_span("1d")))
    state = ContactState()
    for at in (0, 12 * _H):
        record(state, "email", True, _JAN5 + at, rules)
    assert is_capped(state, "email", True, _JAN5 + 23 * _H, rules)
    assert not is_capped(state, "email", True, _JAN5 + 25 * _H, rules)


def test_all_cap_counts_every_messaging_channel_but_not_crm_or_web() -> None:
    rules = _rules(FrequencyCap(channel="all", max=2, per=cap_span("day")))
    state = ContactState()
    record(state, "sms", True, _JAN5 + 1 * _H, rules)
    record(state, "crm", False, _JAN5 + 2 * _H, rules)
    assert not is_capped(state, "push", True, _JAN5 + 3 * _H, rules)
    record(state, "push", True, _JAN5 + 3 * _H, rules)
    assert is_capped(state, "email", True, _JAN5 + 4 * _H, rules)
    assert not is_capped(state, "crm", False, _JAN5 + 4 * _H, rules)  # not a message


def test_send_history_stays_bounded_by_the_largest_cap() -> None:
    rules = _rules(
        FrequencyCap(channel="email", max=3, per=cap_span("day")),
        FrequencyCap(channel="all", max=2, per=cap_span("1d")),
    )
    state = ContactState()
    for n in range(100):
        record(state, "email", True, _JAN5 + n * 60_000, rules)
    assert len(state.sends["email"]) == 3 and len(state.sends["all"]) == 2


def test_local_day_across_a_daylight_saving_change_is_23_hours() -> None:
    start, end = day_bounds_ms(1774778400000, "Europe/Paris")  # 2026-03-29
    assert end - start == 23 * _H
