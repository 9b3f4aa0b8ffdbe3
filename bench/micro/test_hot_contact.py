"""Cost of one event for a quiet contact and for a hot one (issue #9).

A contact that sent 10 events in the last hour and one that sent 100,000 (a bot,
a crawler, a shared kiosk) are each given one more event: the pure journey step
(`is_duplicate` + `apply`) and the per-batch encode of the state that follows it.
Bounded state means the two cost the same (the README compares the figures; the
benchmark asserts nothing about time).
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pulse.contact import ContactState, encode_state
from pulse.events import Event
from pulse.journey import Journey
from pulse.rules import Rules
from pulse.triggers import Trigger

_START_MS = 1_767_607_200_000
_HOUR_MS = 3_600_000
_TYPES = ("page_view", "product_view", "product_view", "add_to_cart", "cart_view", "search")


def _event(n: int, ts_ms: int) -> Event:
    type_ = _TYPES[n % len(_TYPES)]
    props: dict[str, object] = {}
    if type_ in ("product_view", "add_to_cart"):
        props = {"product_id": f"p{n % 400}", "price": 20.0 + n % 7}
    return Event(f"h{n}", type_, ts_ms, "hot", "hot", None, props)


def _busy_state(journey: Journey, events_last_hour: int) -> tuple[ContactState, int]:
    state, fired = ContactState(), list[Trigger]()
    step = _HOUR_MS // events_last_hour
    for n in range(events_last_hour):
        event = _event(n, _START_MS + n * step)
        if not journey.is_duplicate(state, event):
            journey.apply(state, event, fired)
    return state, events_last_hour


@pytest.mark.parametrize("events_last_hour", [10, 100_000])
@pytest.mark.benchmark(group="hot-contact")
def test_one_more_event_for_a_contact(
    benchmark: BenchmarkFixture, rules: Rules, events_last_hour: int
) -> None:
    """`is_duplicate` + `apply` of one event, then `encode_state` (model off)."""
    journey = Journey(rules)  # no model: the rules-only cost
    state, n = _busy_state(journey, events_last_hour)
    fired: list[Trigger] = []
    benchmark.extra_info["items"] = 1
    benchmark.extra_info["state_bytes"] = len(encode_state(state))

    def one_more() -> int:
        nonlocal n
        n += 1
        event = _event(n, _START_MS + _HOUR_MS + n)
        if not journey.is_duplicate(state, event):
            journey.apply(state, event, fired)
        return len(encode_state(state))

    size = benchmark(one_more)

    assert size < 4096, "a contact's state stays small however busy it is"
