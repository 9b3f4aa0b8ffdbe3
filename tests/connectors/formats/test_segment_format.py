"""Segment / RudderStack envelopes over the spec's own examples (tests/data/formats)."""

from __future__ import annotations

import json

import pytest
from format_samples import segment_examples, segment_track

from pulse.connectors.formats import FormatDecoder
from pulse.connectors.formats.segment import SPEC_TYPES
from pulse.errors import EventError

DECODER = FormatDecoder("segment")


def decode(body: dict[str, object]) -> list:
    return DECODER.decode_vendor(json.dumps(body).encode())


@pytest.mark.parametrize("name", sorted(segment_examples()))
def test_every_spec_v2_example_maps_to_its_pulse_type(name: str) -> None:
    (event,) = decode(segment_track(name, 1))
    assert event.type == SPEC_TYPES[name]
    assert (event.event_id, event.contact_id, event.anonymous_id) == ("m1", "u1", "a1")
    assert event.ts_ms == 1_767_607_200_000


def test_all_28_spec_v2_events_are_mapped() -> None:
    assert len(segment_examples()) == 28
    assert set(segment_examples()) <= set(SPEC_TYPES)


def test_commerce_fields_are_carried_into_pulse_props() -> None:
    (added,) = decode(segment_track("Product Added", 1))
    assert (added.props["product_id"], added.props["price"], added.props["quantity"]) == (
        "507f1f77bcf86cd799439011",
        18.99,
        1,
    )
    (order,) = decode(segment_track("Order Completed", 2))
    assert (order.type, order.props["revenue"], order.props["order_id"]) == (
        "purchase",
        22.5,
        "50314b8e9bcf000000000000",
    )
    (refund,) = decode(segment_track("Order Refunded", 3))
    assert refund.props["revenue"] == 30  # `total`: the example has no `revenue`
    (checkout,) = decode(segment_track("Checkout Started", 4))
    assert checkout.props["cart_value"] == 30  # `value`
    (cart,) = decode(segment_track("Cart Viewed", 5))
    assert cart.props["cart_value"] == 22.0  # the products' sum: 19 + 3


def test_unmapped_track_names_need_declaring_under_event_types() -> None:
    body = {
        "type": "track",
        "event": "Video Played",
        "userId": "u1",
        "timestamp": "2026-01-05T10:00:00Z",
    }
    with pytest.raises(EventError, match="unknown event type `video_played`"):
        decode(body)
    declared = FormatDecoder("segment", frozenset({"video_played"}))
    (event,) = declared.decode_vendor(json.dumps(body).encode())
    assert event.type == "video_played"


def test_identify_keeps_traits_with_the_context_timezone_and_locale() -> None:
    body = {
        "type": "identify",
        "messageId": "i1",
        "userId": "u1",
        "anonymousId": "a1",
        "originalTimestamp": "2026-01-05T10:00:00Z",
        "traits": {"email": "x@example.com"},
        "context": {"traits": {"plan": "pro"}, "timezone": "Europe/Paris", "locale": "fr-FR"},
    }
    (event,) = decode(body)
    assert event.type == "identify" and event.key == "u1" and event.anonymous_id == "a1"
    assert event.props["traits"] == {
        "plan": "pro",
        "email": "x@example.com",
        "timezone": "Europe/Paris",
        "locale": "fr-FR",
    }


def test_alias_links_previous_id_to_user_id_and_page_and_screen_are_page_views() -> None:
    (alias,) = decode(
        {"type": "alias", "previousId": "a9", "userId": "u9", "sentAt": "2026-01-05T10:00:00Z"}
    )
    assert (alias.type, alias.contact_id, alias.anonymous_id) == ("alias", "u9", "a9")
    for call in ("page", "screen"):
        (view,) = decode(
            {"type": call, "name": "Home", "anonymousId": "a1", "timestamp": "2026-01-05T10:00:00Z"}
        )
        assert view.type == "page_view" and view.props["name"] == "Home" and view.key == "anon:a1"
    (group,) = decode(
        {"type": "group", "groupId": "g1", "userId": "u1", "timestamp": "2026-01-05T10:00:00Z"}
    )
    assert group.type == "group" and group.props["group_id"] == "g1"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"properties": {"price": "cheap"}},
            'Expected a number, got `"cheap"` - at `properties.price`',
        ),
        ({"timestamp": "yesterday"}, "`timestamp`: expected ISO-8601"),
        ({"userId": None, "anonymousId": None}, "neither `userId` nor `anonymousId`"),
        ({"type": "shout"}, "at `type`"),
        ({"userId": {"id": 1}}, "at `userId`"),
    ],
)
def test_malformed_messages_are_refused_naming_the_field(
    change: dict[str, object], reason: str
) -> None:
    body = segment_track("Product Added", 1) | change
    with pytest.raises(EventError, match="^Segment: .*" + _escape(reason)):
        decode(body)


def _escape(text: str) -> str:
    import re

    return re.escape(text)
