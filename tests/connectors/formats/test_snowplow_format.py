"""Snowplow enriched events (TSV and JSON layouts) over real tracker output (tests/data/formats)."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from format_samples import snowplow_json, snowplow_rows, snowplow_tsv

from pulse.connectors.formats import FormatDecoder
from pulse.connectors.formats.snowplow import ENRICHED_FIELDS
from pulse.errors import EventError

DECODER = FormatDecoder("auto")


def test_the_enriched_tsv_has_131_fields() -> None:
    assert len(ENRICHED_FIELDS) == 131 and len(snowplow_tsv(snowplow_rows()[0]).split("\t")) == 131


def test_tsv_and_json_layouts_give_the_same_events() -> None:
    for row in snowplow_rows():
        from_json = DECODER.decode_vendor(json.dumps(snowplow_json(row)).encode())
        from_tsv = DECODER.decode_vendor(snowplow_tsv(row).encode())
        assert from_json == from_tsv


def test_every_ecommerce_action_of_the_sample_maps() -> None:
    types = Counter(
        e.type for row in snowplow_rows() for e in DECODER.decode_vendor(snowplow_tsv(row).encode())
    )
    assert set(types) == {
        "product_view",
        "page_view",
        "product_clicked",
        "add_to_cart",
        "remove_from_cart",
        "checkout_started",
        "checkout_step",
        "purchase",
        "refund",
        "promotion_viewed",
        "promotion_clicked",
    }


def test_products_and_transactions_carry_price_and_revenue() -> None:
    events = [
        e for row in snowplow_rows() for e in DECODER.decode_vendor(snowplow_tsv(row).encode())
    ]
    cart_adds = [e for e in events if e.type == "add_to_cart" and e.key.startswith("anon:0a225e4e")]
    assert [(e.props["product_id"], e.props["price"]) for e in cart_adds] == [
        ("1234", 25.0),
        ("1235", 15.0),
    ]
    assert cart_adds[0].event_id.endswith(":0") and cart_adds[1].event_id.endswith(":1")
    purchase = next(e for e in events if e.type == "purchase" and e.key.startswith("anon:0a225e4e"))
    assert (purchase.props["order_id"], purchase.props["revenue"]) == ("TPOp0e", 26.0)


def test_a_trimmed_tsv_line_is_read_as_if_its_trailing_fields_were_empty() -> None:
    line = snowplow_tsv(snowplow_rows()[0])
    assert DECODER.decode_vendor(line.rstrip("\t").encode()) == DECODER.decode_vendor(line.encode())


def test_legacy_transactions_and_structured_events_map() -> None:
    fields = dict.fromkeys(ENRICHED_FIELDS, "")
    fields |= {
        "event": "transaction",
        "event_id": "t1",
        "domain_userid": "d1",
        "collector_tstamp": "2026-01-05 10:00:00.000",
        "tr_orderid": "o1",
        "tr_total": "42.5",
    }
    (bought,) = DECODER.decode_vendor("\t".join(fields.values()).encode())
    assert (bought.type, bought.props["order_id"], bought.props["revenue"]) == (
        "purchase",
        "o1",
        42.5,
    )
    structured = {
        "event": "struct",
        "event_id": "s1",
        "user_id": "u1",
        "derived_tstamp": "2026-01-05T10:00:00Z",
        "se_action": "add-to-basket",
        "se_value": "3",
    }
    declared = FormatDecoder("snowplow", frozenset({"add_to_basket"}))
    (event,) = declared.decode_vendor(json.dumps(structured).encode())
    assert (event.type, event.key, event.props["value"]) == ("add_to_basket", "u1", 3.0)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tr_total": "a lot"}, "at `tr_total`"),
        ({"event_id": ""}, "`event_id` is missing"),
        ({"collector_tstamp": "Tuesday"}, "`collector_tstamp`"),
        ({"domain_userid": ""}, "neither `user_id` nor `domain_userid`"),
    ],
)
def test_malformed_events_are_refused_naming_the_field(change: dict[str, str], reason: str) -> None:
    fields = dict.fromkeys(ENRICHED_FIELDS, "")
    fields |= {
        "event": "transaction",
        "event_id": "t1",
        "domain_userid": "d1",
        "collector_tstamp": "2026-01-05 10:00:00.000",
        "tr_orderid": "o1",
        "tr_total": "1",
    }
    fields |= change
    with pytest.raises(EventError, match="^Snowplow TSV: .*" + _escape(reason)):
        DECODER.decode_vendor("\t".join(fields.values()).encode())
    with pytest.raises(EventError):
        DECODER.decode_vendor(b"x\t" * 140)


def _escape(text: str) -> str:
    import re

    return re.escape(text)
