"""Trigger outcomes: did the contacts a trigger named buy within the horizon afterwards?"""

from __future__ import annotations

from pulse.outcomes import read_purchases, trigger_outcomes
from pulse.triggers import Trigger

DAY = 86_400_000
T0 = 1_767_607_200_000


def _trigger(name: str, contact: str, ts_ms: int) -> Trigger:
    return Trigger(
        trigger_id=f"{name}{contact}{ts_ms}", trigger=name, kind=name, contact_id=contact,
        ts="", ts_ms=ts_ms, score=0.0, stage="", channel=None, rules_version="", reason={},
    )  # fmt: skip


def test_purchases_are_read_per_contact_in_time_order_including_vendor_names() -> None:
    lines = [
        b'{"type":"purchase","ts":1767607203000,"contact_id":"c1"}',
        b'{"type":"Order Completed","ts":1767607201000,"contact_id":"c1"}',
        b'{"type":"page_view","ts":1767607202000,"contact_id":"c2"}',
        b'{"type":"purchase","ts":1767607202000,"anonymous_id":"a9"}',
        b"not json but it says purchase",
    ]
    assert read_purchases(lines) == {"c1": [T0 + 1000, T0 + 3000], "anon:a9": [T0 + 2000]}


def test_a_contact_counts_once_and_only_for_a_purchase_after_the_trigger_within_horizon() -> None:
    triggers = [
        _trigger("sales_ready", "c1", 0),
        _trigger("sales_ready", "c1", 2 * DAY),
        _trigger("sales_ready", "c2", 0),
        _trigger("sales_ready", "c3", 5 * DAY),
        _trigger("welcome", "c3", 0),
    ]
    purchases = {"c1": [3 * DAY], "c2": [8 * DAY], "c3": [5 * DAY]}
    outcomes = trigger_outcomes(triggers, purchases, 7 * DAY)
    sales, welcome = outcomes
    assert (sales.fired, sales.contacts, sales.bought) == (4, 3, 1)
    assert (welcome.fired, welcome.contacts, welcome.bought) == (1, 1, 1)
