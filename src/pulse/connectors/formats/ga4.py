"""GA4: Measurement Protocol / gtag bodies and BigQuery export rows.

Measurement Protocol (one body, several events):

    {"client_id": "123.456", "user_id": "u1", "timestamp_micros": 1767607200000000,
     "events": [{"name": "add_to_cart", "params": {"value": 7.77, "items": [...]}}]}

BigQuery export (one row, one event):

    {"event_name": "purchase", "event_timestamp": "1767607200000000",
     "user_pseudo_id": "123.456", "user_id": null,
     "event_params": [{"key": "value", "value": {"double_value": 7.77}}],
     "items": [...], "ecommerce": {"purchase_revenue": 7.77, "transaction_id": "T_1"}}

`user_id` is the contact, `client_id` / `user_pseudo_id` (or `app_instance_id`) the
anonymous id. Events map by `SPEC_TYPES`. Numbers come from `items[]` and `value`:
`add_to_cart` and `remove_from_cart` give one pulse event per item (`product_id`,
`price`, `quantity`: the cart holds every line), a lone `value` standing for an
item-less one; the cart steps carry `cart_value`, `purchase` and `refund` carry
`revenue` (`value`, else BigQuery's `ecommerce.purchase_revenue` / `refund_value`,
else the items' sum) and `order_id` (`transaction_id`). Event ids are derived from
the line (GA4 has none), with the event's and the item's index.
"""

from __future__ import annotations

from typing import Any

from pulse.connectors.formats.fields import (
    as_dict,
    as_id,
    as_list,
    as_number,
    expected,
    line_id,
    micros_ts,
    snake,
)
from pulse.errors import EventError
from pulse.events import Event, EventDecoder

__all__ = ["SPEC_TYPES", "decode_bigquery", "decode_measurement_protocol"]

SPEC_TYPES: dict[str, str] = {
    # the 17 recommended e-commerce events, and the lead and account ones
    "view_item_list": "page_view",
    "select_item": "product_clicked",
    "view_item": "product_view",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "view_cart": "cart_view",
    "begin_checkout": "checkout_started",
    "add_shipping_info": "add_shipping_info",
    "add_payment_info": "add_payment_info",
    "purchase": "purchase",
    "refund": "refund",
    "add_to_wishlist": "product_added_to_wishlist",
    "view_promotion": "promotion_viewed",
    "select_promotion": "promotion_clicked",
    "view_search_results": "search",
    "search": "search",
    "generate_lead": "form_submit",
    "sign_up": "signup",
    "login": "login",
    # collected automatically (BigQuery exports are full of them)
    "page_view": "page_view",
    "screen_view": "page_view",
    "session_start": "session_start",
    "first_visit": "first_visit",
    "user_engagement": "user_engagement",
    "scroll": "scroll",
    "click": "click",
    "form_start": "form_start",
    "form_submit": "form_submit",
    "file_download": "file_download",
    "video_start": "video_start",
    "video_progress": "video_progress",
    "video_complete": "video_complete",
    "share": "share",
}
"""GA4 event name -> pulse type (the README's "Input formats" table)."""

_PER_ITEM = frozenset({"add_to_cart", "remove_from_cart"})
_ONE_ITEM = frozenset({"product_view", "product_clicked", "product_added_to_wishlist"})
_CART_STEPS = frozenset({"cart_view", "checkout_started", "add_shipping_info", "add_payment_info"})
_ORDERS = frozenset({"purchase", "refund"})
_VALUE_KINDS = ("string_value", "int_value", "double_value", "float_value")


def decode_measurement_protocol(
    obj: dict[str, Any], raw: bytes, decoder: EventDecoder
) -> list[Event]:
    """The pulse events of one Measurement Protocol body; raises `EventError`."""
    contact_id = as_id(obj.get("user_id"), "user_id")
    anonymous_id = as_id(obj.get("client_id", obj.get("app_instance_id")), "client_id")
    if contact_id is None and anonymous_id is None:
        raise EventError("the body has neither `user_id` nor `client_id`")
    stamp = obj.get("timestamp_micros")
    if stamp is None:
        raise EventError(
            "`timestamp_micros` is missing: pulse needs the event time (GA4 would use "
            "the time it received the body)"
        )
    ts_ms = micros_ts(stamp, "timestamp_micros")
    events = as_list(obj.get("events"), "events")
    if not events:
        raise EventError("`events` is empty")
    out: list[Event] = []
    for i, item in enumerate(events):
        where = f"events[{i}]"
        event = as_dict(item, where)
        name = event.get("name")
        if not isinstance(name, str) or not name:
            raise expected("the event name", name, f"{where}.name")
        params = dict(as_dict(event.get("params"), f"{where}.params"))
        if "timestamp_micros" in event:  # newer bodies time each event
            ts_ms = micros_ts(event["timestamp_micros"], f"{where}.timestamp_micros")
        base_id = line_id(raw, "ga4", i)
        out += _events(name, params, ts_ms, base_id, contact_id, anonymous_id, decoder, where)
    return out


def decode_bigquery(obj: dict[str, Any], raw: bytes, decoder: EventDecoder) -> list[Event]:
    """The pulse events of one BigQuery export row; raises `EventError`."""
    name = obj.get("event_name")
    if not isinstance(name, str) or not name:
        raise expected("the event name", name, "event_name")
    contact_id = as_id(obj.get("user_id"), "user_id")
    anonymous_id = as_id(obj.get("user_pseudo_id"), "user_pseudo_id")
    if contact_id is None and anonymous_id is None:
        raise EventError("the row has neither `user_id` nor `user_pseudo_id`")
    ts_ms = micros_ts(obj.get("event_timestamp"), "event_timestamp")
    params = _flat_params(as_list(obj.get("event_params"), "event_params"))
    if obj.get("items"):
        params["items"] = as_list(obj["items"], "items")
    ecommerce = as_dict(obj.get("ecommerce"), "ecommerce")
    if params.get("value") is None:
        for field in ("purchase_revenue", "refund_value"):
            if ecommerce.get(field) is not None:
                params["value"] = as_number(ecommerce[field], f"ecommerce.{field}")
                break
    if ecommerce.get("transaction_id") and not params.get("transaction_id"):
        params["transaction_id"] = ecommerce["transaction_id"]
    base_id = line_id(raw, "ga4")
    return _events(name, params, ts_ms, base_id, contact_id, anonymous_id, decoder, "")


def _flat_params(entries: list[Any]) -> dict[str, Any]:
    """BigQuery's `[{key, value: {string_value | int_value | double_value}}]` as a dict.

    >>> _flat_params([{"key": "value", "value": {"double_value": 7.77}},
    ...               {"key": "page", "value": {"string_value": "/", "int_value": None}}])
    {'value': 7.77, 'page': '/'}
    """
    params: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        pair = as_dict(entry, f"event_params[{i}]")
        key = pair.get("key")
        if not isinstance(key, str):
            raise expected("a parameter name", key, f"event_params[{i}].key")
        value = as_dict(pair.get("value"), f"event_params[{i}].value")
        params[key] = next((value[k] for k in _VALUE_KINDS if value.get(k) is not None), None)
    if isinstance(params.get("value"), str):  # int64 and numeric values arrive as text
        params["value"] = as_number(params["value"], "event_params.value")
    return params


def _events(
    name: str,
    params: dict[str, Any],
    ts_ms: int,
    base_id: str,
    contact_id: str | int | None,
    anonymous_id: str | int | None,
    decoder: EventDecoder,
    where: str,
) -> list[Event]:
    """One GA4 event as pulse events (several for a multi-item cart change)."""
    at = f"{where}.params." if where else ""
    type_ = SPEC_TYPES.get(name)
    is_spec = type_ is not None
    if type_ is None:
        type_ = snake(name)
    items = [
        as_dict(x, f"{at}items[{i}]")
        for i, x in enumerate(as_list(params.get("items"), f"{at}items"))
    ]
    value = as_number(params.get("value"), f"{at}value")
    if value is not None:
        params["value"] = value
    if params.get("transaction_id") is not None:
        params["order_id"] = as_id(params["transaction_id"], f"{at}transaction_id")
    props_list: list[dict[str, Any]] = [params]
    if type_ in _PER_ITEM:
        props_list = [_item_props(params, item, f"{at}items[{i}]") for i, item in enumerate(items)]
        if not props_list:  # an item-less change: its value stands for one line
            props_list = [dict(params, price=value or 0.0, quantity=1)]
        for props in props_list:
            props.pop("items", None)
    elif type_ in _ONE_ITEM and items:
        props_list = [_item_props(params, items[0], f"{at}items[0]")]
    elif type_ in _CART_STEPS and (value is not None or items):
        params["cart_value"] = value if value is not None else _items_value(items, at)
    elif type_ in _ORDERS and (value is not None or items):
        params["revenue"] = value if value is not None else _items_value(items, at)
    build = decoder.build
    return [
        build(
            type_,
            ts_ms,
            event_id=base_id if len(props_list) == 1 else f"{base_id}:{j}",
            contact_id=contact_id,
            anonymous_id=anonymous_id,
            props=props,
            is_spec_type=is_spec,
        )
        for j, props in enumerate(props_list)
    ]


def _item_props(params: dict[str, Any], item: dict[str, Any], where: str) -> dict[str, Any]:
    """The event's params with one item's `product_id`, `price` and `quantity`."""
    props = dict(params)
    props["item"] = item
    product = item.get("item_id", item.get("item_name"))
    if product is not None:
        props["product_id"] = as_id(product, f"{where}.item_id")
    price = as_number(item.get("price"), f"{where}.price")
    quantity = as_number(item.get("quantity"), f"{where}.quantity")
    props["price"] = price if price is not None else 0.0
    props["quantity"] = quantity if quantity is not None else 1
    return props


def _items_value(items: list[dict[str, Any]], at: str) -> float:
    """The sum of price x quantity over `items` (quantity 1 when absent)."""
    total = 0.0
    for i, item in enumerate(items):
        price = as_number(item.get("price"), f"{at}items[{i}].price") or 0
        quantity = as_number(item.get("quantity"), f"{at}items[{i}].quantity")
        total += price * (1 if quantity is None else quantity)
    return total
