"""Frequency caps: how many messages a contact may get on a channel, or on all of them.

A cap (`guardrails.frequency_caps`) is `{channel, max, per}`:

* `per: 1d` (any duration) is a **rolling** window of event time: at most `max`
  messages in any `per` before the trigger's time;
* `per: day` is the contact's **local calendar day** (trait `timezone`, else
  `guardrails.default_timezone`): at most `max` messages whose time falls on the
  same local day as the trigger's;
* `channel: all` counts every messaging channel together (all but `crm` and
  `web`, which send nothing to the person): a cross-channel cap.

Sent and deferred messages count, at their send time (a deferred one at the end of
quiet hours). The history is the contact's `sends`: per channel (and `all`), the
newest send times, no more than the largest cap on it needs, so it stays bounded.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pulse.contact import ContactState
from pulse.localtime import day_bounds_ms

if TYPE_CHECKING:
    from pulse.rules import FrequencyCap, Guardrails

__all__ = ["ALL", "is_capped", "keep_for", "record"]

ALL = "all"
"""The `channel` of a cap counting every messaging channel (and the `sends` key it uses)."""


def _caps_on(channel: str, is_message: bool, caps: Iterable[FrequencyCap]) -> list[FrequencyCap]:
    return [cap for cap in caps if cap.channel == channel or (is_message and cap.channel == ALL)]


def is_capped(
    state: ContactState, channel: str, is_message: bool, ts_ms: int, rules: Guardrails
) -> bool:
    """Whether a message on `channel` at `ts_ms` would exceed a cap (`is_message`: the
    channel reaches the person, so `all` caps count it).

    >>> from pulse.rules import FrequencyCap, Guardrails
    >>> from pulse.spec import cap_span
    >>> day = Guardrails(frequency_caps=[FrequencyCap(channel="email", max=1, per=cap_span("day"))])
    >>> state = ContactState(sends={"email": [1767650400000]})  # 2026-01-05T22:00Z
    >>> is_capped(state, "email", True, 1767654000000, day)  # 23:00Z, the same UTC day
    True
    >>> is_capped(state, "email", True, 1767661200000, day)  # 01:00Z the next day
    False
    """
    for cap in _caps_on(channel, is_message, rules.frequency_caps):
        sends = state.sends.get(cap.channel, ())
        if cap.per.is_calendar_day:
            start, end = day_bounds_ms(ts_ms, state.timezone or rules.default_timezone)
            count = bisect.bisect_left(sends, end) - bisect.bisect_left(sends, start)
        else:
            count = len(sends) - bisect.bisect_right(sends, ts_ms - cap.per.ms)
        if count >= cap.max:
            return True
    return False


def keep_for(key: str, rules: Guardrails) -> int:
    """How many send times the history keeps under `key` (a channel or `all`)."""
    return max((cap.max for cap in rules.frequency_caps if cap.channel == key), default=0)


def record(
    state: ContactState, channel: str, is_message: bool, at_ms: int, rules: Guardrails
) -> None:
    """Remember a send on `channel` at `at_ms`, under the channel and under `all`, as far as
    caps need it.

    >>> from pulse.rules import FrequencyCap, Guardrails
    >>> rules = Guardrails(frequency_caps=[FrequencyCap(channel="all", max=2)])
    >>> state = ContactState()
    >>> for t, channel in ((5, "email"), (1, "sms"), (9, "push"), (7, "crm")):
    ...     record(state, channel, channel != "crm", t, rules)
    >>> state.sends
    {'all': [5, 9]}
    """
    for key in (channel, ALL) if is_message else (channel,):
        keep = keep_for(key, rules)
        if not keep:
            continue
        sends = state.sends.setdefault(key, [])
        bisect.insort(sends, at_ms)
        del sends[:-keep]
