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

from pulse.contact import ContactState, decode_state, encode_state
from pulse.events import Event
from pulse.facts import is_duplicate
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
        if not is_duplicate(state, event):
            journey.apply(state, event, fired)
    return state, events_last_hour


@pytest.mark.parametrize("events_last_hour", [10, 100_000])
@pytest.mark.benchmark(group="hot-contact")
def test_one_more_event_for_a_contact(
    benchmark: BenchmarkFixture, rules: Rules, events_last_hour: int
) -> None:
    """`is_duplicate` + `apply` of one event (model off): the per-event work.

    Every round starts from a fresh copy of the prepared state, so the quiet contact
    stays quiet however many rounds run. The state's encode is per batch, not per
    event (`test_encode_the_state_of_a_contact`).
    """
    journey = Journey(rules)  # no model: the rules-only cost
    prepared, n = _busy_state(journey, events_last_hour)
    blob = encode_state(prepared)
    # A millisecond after the last one: an ordinary event. The first event of a new
    # hour also compacts the windows, once per contact-hour whatever its traffic.
    event = _event(n + 1, prepared.last_ts + 1)
    fired: list[Trigger] = []
    benchmark.extra_info["items"] = 1
    benchmark.extra_info["state_bytes"] = len(blob)

    def one_more(state: ContactState) -> int:
        if not is_duplicate(state, event):
            journey.apply(state, event, fired)
        return state.last_ts

    last_ts = benchmark.pedantic(  # type: ignore[no-untyped-call]  # pytest-benchmark's pedantic is untyped
        one_more, setup=lambda: ((decode_state(blob),), {}), rounds=3000, warmup_rounds=100
    )

    assert last_ts == event.ts_ms


@pytest.mark.parametrize("events_last_hour", [10, 100_000])
@pytest.mark.benchmark(group="hot-contact-encode")
def test_encode_the_state_of_a_contact(
    benchmark: BenchmarkFixture, rules: Rules, events_last_hour: int
) -> None:
    """`encode_state` of the contact: once per batch that touches it, whatever its events."""
    state, _ = _busy_state(Journey(rules), events_last_hour)
    benchmark.extra_info["items"] = 1

    size = benchmark(lambda: len(encode_state(state)))

    benchmark.extra_info["state_bytes"] = size
    assert size < 4096, "a contact's state stays small however busy it is"
