"""GA4 Measurement Protocol bodies and BigQuery export rows over Google's examples."""

from __future__ import annotations

import json

import pytest
from format_samples import ga4_body, ga4_examples, ga4_row

from pulse.connectors.formats import FormatDecoder
from pulse.connectors.formats.ga4 import SPEC_TYPES
from pulse.errors import EventError

DECODER = FormatDecoder("auto")
RECOMMENDED = [
    "view_item",
    "view_item_list",
    "select_item",
    "add_to_cart",
    "remove_from_cart",
    "view_cart",
    "begin_checkout",
    "add_shipping_info",
    "add_payment_info",
    "purchase",
    "refund",
    "add_to_wishlist",
    "view_promotion",
    "select_promotion",
    "generate_lead",
    "sign_up",
    "login",
    "page_view",
    "search",
    "session_start",
]


def decode(body: dict[str, object]) -> list:
    return DECODER.decode_vendor(json.dumps(body).encode())


@pytest.mark.parametrize("name", RECOMMENDED)
def test_every_recommended_event_maps_in_both_layouts(name: str) -> None:
    (sent,) = decode(ga4_body([name], user="u1"))
    (exported,) = decode(ga4_row(name, user="u1"))
    assert sent.type == exported.type == SPEC_TYPES[name]
    assert sent.key == exported.key == "u1"
    assert sent.ts_ms == exported.ts_ms == 1_767_607_200_000


def test_googles_17_examples_are_all_mapped() -> None:
    assert len(ga4_examples()) == 17 and set(ga4_examples()) <= set(SPEC_TYPES)


def test_items_and_value_give_cart_value_and_revenue() -> None:
    (added,) = decode(ga4_body(["add_to_cart"]))
    assert (added.props["product_id"], added.props["price"], added.props["quantity"]) == (
        "SKU_12345",
        9.99,
        1,
    )
    (cart,) = decode(ga4_body(["view_cart"]))
    assert cart.props["cart_value"] == 7.77
    (bought,) = decode(ga4_body(["purchase"]))
    assert (bought.props["revenue"], bought.props["order_id"]) == (12.21, "T_12345")
    (exported,) = decode(ga4_row("purchase"))  # revenue from `ecommerce.purchase_revenue`
    assert (exported.props["revenue"], exported.props["order_id"]) == (12.21, "T_12345")


def test_a_body_with_several_events_gives_several_events_with_distinct_ids() -> None:
    events = decode(ga4_body(["view_item", "add_to_cart", "begin_checkout"], client="c.9"))
    assert [e.type for e in events] == ["product_view", "add_to_cart", "checkout_started"]
    assert len({e.event_id for e in events}) == 3
    assert (
        events[0].event_id
        == decode(ga4_body(["view_item", "add_to_cart", "begin_checkout"], client="c.9"))[
            0
        ].event_id
    )


def test_a_cart_change_of_several_items_gives_one_event_per_item() -> None:
    body = ga4_body(["add_to_cart"])
    item = body["events"][0]["params"]["items"][0]
    body["events"][0]["params"]["items"] = [
        item,
        dict(item, item_id="SKU_2", price=5.0, quantity=2),
    ]
    events = decode(body)
    assert [(e.props["product_id"], e.props["price"], e.props["quantity"]) for e in events] == [
        ("SKU_12345", 9.99, 1),
        ("SKU_2", 5.0, 2),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"client_id": "c", "events": [{"name": "purchase"}]}, "`timestamp_micros` is missing"),
        (
            {"client_id": "c", "timestamp_micros": 1767607200000000, "events": [{"params": {}}]},
            "at `events[0].name`",
        ),
        (
            {"client_id": "c", "timestamp_micros": "soon", "events": [{"name": "login"}]},
            "at `timestamp_micros`",
        ),
        (
            {
                "client_id": "c",
                "timestamp_micros": 1767607200000000,
                "events": [{"name": "purchase", "params": {"value": "lots"}}],
            },
            "at `events[0].params.value`",
        ),
        (
            {"event_name": "login", "event_timestamp": "1767607200000000"},
            "neither `user_id` nor `user_pseudo_id`",
        ),
    ],
)
def test_malformed_payloads_are_refused_naming_the_field(
    body: dict[str, object], reason: str
) -> None:
    with pytest.raises(EventError, match="^GA4 .*" + _escape(reason)):
        decode(body)


def _escape(text: str) -> str:
    import re

    return re.escape(text)
