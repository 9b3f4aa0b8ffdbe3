"""The synthetic clickstream: deterministic, ordered, exact, decodable, and realistic."""

from __future__ import annotations

import io
import itertools
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from pulse.connectors.generator import (
    GeneratorConfig,
    generate_events,
    generate_lines,
    write_jsonl,
)
from pulse.errors import ConfigError
from pulse.events import Event, decode_event

MINUTE = 60_000
DAY = 86_400_000
SMALL = GeneratorConfig(contacts=300, events=5_000, seed=11)
STREAM = GeneratorConfig(contacts=1_000, events=20_000)


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return list(generate_events(STREAM))


@pytest.fixture(scope="module")
def by_key(events: list[Event]) -> dict[str, list[Event]]:
    journeys: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        journeys[event.key].append(event)
    return dict(journeys)


def sessions(journey: list[Event], gap_ms: int = 30 * MINUTE) -> list[list[Event]]:
    """A contact's events split wherever nothing happened for more than `gap_ms`."""
    out: list[list[Event]] = []
    for event in journey:
        if out and event.ts_ms - out[-1][-1].ts_ms <= gap_ms:
            out[-1].append(event)
        else:
            out.append([event])
    return out


# --- the contract ----------------------------------------------------------------------------


def test_same_config_gives_identical_bytes() -> None:
    assert list(generate_lines(SMALL)) == list(generate_lines(SMALL))


def test_another_seed_gives_another_stream() -> None:
    other = GeneratorConfig(contacts=300, events=5_000, seed=12)
    assert list(generate_lines(SMALL)) != list(generate_lines(other))


@pytest.mark.parametrize(
    ("contacts", "events"), [(1, 0), (1, 1), (10, 3), (2_000, 1_234), (50, 7_777)]
)
def test_exactly_the_requested_number_of_events(contacts: int, events: int) -> None:
    config = GeneratorConfig(contacts=contacts, events=events)
    assert sum(1 for _ in generate_lines(config)) == events


def test_ordered_by_time(events: list[Event]) -> None:
    assert all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(events))


def test_every_line_decodes_to_the_event_at_its_position() -> None:
    lines = list(generate_lines(SMALL))
    assert [decode_event(line) for line in lines] == list(generate_events(SMALL))
    assert not any(line.endswith(b"\n") for line in lines)


def test_both_timestamp_forms_appear() -> None:
    kinds = {type(orjson.loads(line)["ts"]) for line in generate_lines(SMALL)}
    assert kinds == {int, str}


def test_event_ids_are_unique_and_seeded(events: list[Event]) -> None:
    assert len({e.event_id for e in events}) == len(events)
    assert events[0].event_id == "g7-0"
    assert events[-1].event_id == f"g7-{len(events) - 1}"


def test_timestamps_stay_inside_the_span(events: list[Event]) -> None:
    assert STREAM.start_ms <= events[0].ts_ms
    assert events[-1].ts_ms < STREAM.start_ms + int(STREAM.span_days * DAY)


def test_a_short_span_squeezes_busy_contacts_inside_it() -> None:
    config = GeneratorConfig(contacts=20, events=20_000, span_days=0.25)
    stamps = [e.ts_ms for e in generate_events(config)]
    assert len(stamps) == 20_000
    assert config.start_ms <= min(stamps) <= max(stamps) < config.end_ms


def test_no_more_keys_than_contacts(by_key: dict[str, list[Event]]) -> None:
    assert len(by_key) <= STREAM.contacts
    numbers = {int(key[1:]) for key in by_key if not key.startswith("anon:")}
    assert numbers <= set(range(1, STREAM.contacts + 1))


def test_zero_skew_spreads_activity_evenly() -> None:
    config = GeneratorConfig(contacts=50, events=5_010, skew=0.0)
    counts: dict[str, int] = defaultdict(int)
    for event in generate_events(config):
        counts[event.key] += 1
    assert set(counts.values()) == {100, 101}


def test_skew_makes_a_few_contacts_heavy(by_key: dict[str, list[Event]]) -> None:
    sizes = sorted((len(j) for j in by_key.values()), reverse=True)
    top_share = sum(sizes[: len(sizes) // 100]) / sum(sizes)
    assert 0.1 < top_share < 0.4
    assert sizes[len(sizes) // 2] < 20_000 / 1_000  # the median contact is light


def test_write_jsonl_to_a_path_and_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert write_jsonl(SMALL, path) == SMALL.events
    buffer = io.BytesIO()
    assert write_jsonl(SMALL, buffer) == SMALL.events
    expected = b"".join(line + b"\n" for line in generate_lines(SMALL))
    assert path.read_bytes() == buffer.getvalue() == expected


@pytest.mark.parametrize(
    "bad",
    [
        {"contacts": 0},
        {"events": -1},
        {"span_days": 0},
        {"skew": -0.5},
        {"anonymous_share": 1.5},
        {"start_ms": 1_000},
    ],
)
def test_bad_config_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        GeneratorConfig(**bad)  # type: ignore[arg-type]


# --- the personas ----------------------------------------------------------------------------


def test_anonymous_visitors_only_browse(by_key: dict[str, list[Event]]) -> None:
    anonymous = {k: j for k, j in by_key.items() if k.startswith("anon:")}
    assert 0.08 < len(anonymous) / len(by_key) < 0.25
    for journey in anonymous.values():
        assert {e.type for e in journey} <= {"page_view", "product_view", "search"}
        assert all(e.contact_id is None and e.anonymous_id for e in journey)


def test_signup_comes_once_and_first_with_both_ids(by_key: dict[str, list[Event]]) -> None:
    signed = [j for j in by_key.values() if any(e.type == "signup" for e in j)]
    assert len(signed) > 50
    for journey in signed:
        assert [e.type for e in journey].count("signup") == 1
        signup = next(e for e in journey if e.type == "signup")
        assert signup.contact_id and signup.anonymous_id
        assert signup in sessions(journey)[0]  # the first time they identify
        assert all(e.anonymous_id is None for e in journey if e is not signup)


def test_some_carts_are_abandoned_and_some_of_those_recovered(
    by_key: dict[str, list[Event]],
) -> None:
    abandoned = recovered = 0
    for journey in by_key.values():
        for i, event in enumerate(journey):
            if event.type != "add_to_cart":
                continue
            rest = journey[i + 1 :]
            if rest and rest[0].ts_ms - event.ts_ms <= 30 * MINUTE:
                continue
            abandoned += 1
            if any(e.type == "purchase" for e in rest):
                recovered += 1
    assert abandoned > 30
    assert 5 < recovered < abandoned


def test_purchases_follow_checkout_within_minutes(events: list[Event]) -> None:
    purchases = [e for e in events if e.type == "purchase"]
    assert len(purchases) > 100
    last_checkout: dict[str, Event] = {}
    for event in events:
        if event.type == "checkout_started":
            last_checkout[event.key] = event
        elif event.type == "purchase":
            checkout = last_checkout.pop(event.key)
            assert event.ts_ms - checkout.ts_ms <= 10 * MINUTE
            assert event.props["revenue"] == checkout.props["cart_value"] > 0
            assert event.props["order_id"]


def test_refunds_name_an_order_paid_a_day_or_two_before(events: list[Event]) -> None:
    paid = {e.props["order_id"]: e for e in events if e.type == "purchase"}
    refunds = [e for e in events if e.type == "refund"]
    assert refunds
    for refund in refunds:
        purchase = paid[refund.props["order_id"]]
        assert purchase.key == refund.key
        assert DAY <= refund.ts_ms - purchase.ts_ms <= 2 * DAY


def test_cart_value_is_the_running_total(by_key: dict[str, list[Event]]) -> None:
    emptied = 0
    for journey in by_key.values():
        cart = 0.0
        for event in journey:
            if event.type == "add_to_cart":
                cart += event.props["price"] * event.props["quantity"]
            elif event.type == "remove_from_cart":
                cart -= event.props["price"] * event.props["quantity"]
                emptied += event.props["cart_value"] == 0
            elif event.type == "purchase":
                cart = 0.0
                continue
            else:
                continue
            assert event.props["cart_value"] == pytest.approx(cart, abs=0.05)
    assert emptied > 0


def test_product_browsers_view_one_product_again_and_again(
    by_key: dict[str, list[Event]],
) -> None:
    def focused(journey: list[Event]) -> bool:
        for session in sessions(journey):
            views: dict[str, int] = defaultdict(int)
            for event in session:
                if event.type == "product_view":
                    views[event.props["product_id"]] += 1
            if views and max(views.values()) >= 3:
                return True
        return False

    browsers = [
        j for j in by_key.values() if focused(j) and all(e.type != "add_to_cart" for e in j)
    ]
    assert len(browsers) > 20


def test_repeat_buyers_buy_again_weeks_later(by_key: dict[str, list[Event]]) -> None:
    repeat = 0
    for journey in by_key.values():
        bought = [e.ts_ms for e in journey if e.type == "purchase"]
        repeat += any(b - a > 14 * DAY for a, b in itertools.pairwise(bought))
    assert repeat > 10


def test_faders_go_silent_for_more_than_two_weeks(by_key: dict[str, list[Event]]) -> None:
    end = STREAM.end_ms
    faded = [
        j
        for j in by_key.values()
        if len(j) >= 6 and j[-1].ts_ms - j[0].ts_ms > 14 * DAY and end - j[-1].ts_ms > 14 * DAY
    ]
    assert len(faded) > 10


def test_lost_customers_come_back_after_ninety_days(by_key: dict[str, list[Event]]) -> None:
    returned = 0
    for journey in by_key.values():
        for before, after in itertools.pairwise(journey):
            if before.type == "purchase" and after.ts_ms - before.ts_ms > 90 * DAY:
                assert after.type in {"page_view", "login"}
                returned += 1
    assert returned > 5


def test_every_event_kind_shows_up(events: list[Event]) -> None:
    kinds = {e.type for e in events}
    assert kinds >= {
        "page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
        "cart_view", "checkout_started", "purchase", "refund", "signup", "login",
        "email_sent", "email_open", "email_click", "sms_click", "form_submit",
        "webinar_attended",
    }  # fmt: skip


def test_messages_carry_their_channel(events: list[Event]) -> None:
    for event in events:
        if event.type.startswith("email_"):
            assert event.props["channel"] == "email"
        elif event.type == "sms_click":
            assert event.props["channel"] == "sms"


def test_prices_are_log_normal_with_a_tail(events: list[Event]) -> None:
    prices = {e.props["product_id"]: e.props["price"] for e in events if e.type == "product_view"}
    ordered = sorted(prices.values())
    assert all(p.startswith("p") and 1 <= int(p[1:]) <= 500 for p in prices)
    assert 20 < ordered[len(ordered) // 2] < 60
    assert ordered[-1] > 200
