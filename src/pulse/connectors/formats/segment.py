"""Segment / RudderStack spec envelopes: `track`, `identify`, `page`, `screen`, `alias`, `group`.

    {"type": "track", "event": "Product Added", "messageId": "m1", "userId": "u1",
     "anonymousId": "a1", "timestamp": "2026-01-05T10:00:00Z",
     "properties": {"product_id": "p1", "price": 18.99, "quantity": 1}, "context": {...}}

`userId` is the contact, `anonymousId` the anonymous id, `messageId` the event id; the
time is `timestamp`, else `originalTimestamp`, `sentAt`, `receivedAt`. Every event of
Segment's e-commerce spec v2 is mapped (`SPEC_TYPES`): onto a pulse type where one
means the same thing, else onto its snake_case name (`Coupon Applied` ->
`coupon_applied`), which is accepted and which rules may declare under `event_types`
and score. Any other `track` name becomes its snake_case name and must be declared.
The properties are kept in `props`, and pulse's own fields are filled from them:
`product_id`, `price`, `quantity`, `order_id`, `revenue` and `cart_value`.
"""

from __future__ import annotations

from typing import Any

from pulse.connectors.formats.fields import (
    as_dict,
    as_id,
    as_list,
    as_number,
    expected,
    first_ts,
    snake,
)
from pulse.errors import EventError
from pulse.events import Event, EventDecoder

__all__ = ["CALLS", "SPEC_TYPES", "decode_segment"]

CALLS = frozenset({"track", "identify", "page", "screen", "alias", "group"})
"""The values of `type` (RudderStack's too); spec v1 payloads name it `action`."""

SPEC_TYPES: dict[str, str] = {
    # browsing
    "Products Searched": "search",
    "Product List Viewed": "page_view",
    "Product List Filtered": "product_list_filtered",
    "Promotion Viewed": "promotion_viewed",
    "Promotion Clicked": "promotion_clicked",
    "Product Clicked": "product_clicked",
    "Product Viewed": "product_view",
    # ordering
    "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart",
    "Cart Viewed": "cart_view",
    "Checkout Started": "checkout_started",
    "Checkout Step Viewed": "checkout_step_viewed",
    "Checkout Step Completed": "checkout_step_completed",
    "Payment Info Entered": "payment_info_entered",
    "Order Updated": "order_updated",
    "Order Completed": "purchase",
    "Order Refunded": "refund",
    "Order Cancelled": "order_cancelled",
    # coupons
    "Coupon Entered": "coupon_entered",
    "Coupon Applied": "coupon_applied",
    "Coupon Denied": "coupon_denied",
    "Coupon Removed": "coupon_removed",
    # wishlisting
    "Product Added to Wishlist": "product_added_to_wishlist",
    "Product Removed from Wishlist": "product_removed_from_wishlist",
    "Wishlist Product Added to Cart": "add_to_cart",
    # sharing and reviewing
    "Product Shared": "product_shared",
    "Cart Shared": "cart_shared",
    "Product Reviewed": "review_submitted",
    # spec v1 names, and the B2B SaaS and email specs' names pulse has a type for
    "Viewed Product": "product_view",
    "Added Product": "add_to_cart",
    "Removed Product": "remove_from_cart",
    "Viewed Product Category": "page_view",
    "Completed Order": "purchase",
    "Signed Up": "signup",
    "Signed In": "login",
    "Email Delivered": "email_sent",
    "Email Opened": "email_open",
    "Email Link Clicked": "email_click",
    "Email Bounced": "email_bounced",
    "Email Marked as Spam": "spam_complaint",
    "Unsubscribed": "unsubscribe",
}
"""Segment event name -> pulse type (the README's "Input formats" table)."""

_CART_TYPES = frozenset({"add_to_cart", "remove_from_cart"})
_ORDER_TYPES = frozenset({"purchase", "refund", "order_updated", "order_cancelled"})
_VALUE_TYPES = frozenset(
    {"cart_view", "checkout_started", "checkout_step_viewed", "checkout_step_completed",
     "payment_info_entered", "cart_shared"}
)  # fmt: skip
_TIMES = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


def decode_segment(obj: dict[str, Any], decoder: EventDecoder) -> list[Event]:
    """The pulse event of one Segment / RudderStack message; raises `EventError`."""
    call = obj.get("type", obj.get("action"))
    if call not in CALLS:
        raise expected("a Segment call (" + ", ".join(sorted(CALLS)) + ")", call, "type")
    contact_id = as_id(obj.get("userId"), "userId")
    anonymous_id = as_id(obj.get("anonymousId"), "anonymousId")
    is_spec = True
    match call:
        case "track":
            name = obj.get("event")
            if not isinstance(name, str) or not name:
                raise expected("the event name", name, "event")
            props = dict(as_dict(obj.get("properties"), "properties"))
            type_ = SPEC_TYPES.get(name)
            if type_ is None:
                type_, is_spec = snake(name), False
            _fill_commerce(type_, props)
        case "page" | "screen":
            type_ = "page_view"
            props = dict(as_dict(obj.get("properties"), "properties"))
            if isinstance(obj.get("name"), str):
                props.setdefault("name", obj["name"])
            props.setdefault("screen" if call == "screen" else "page", True)
        case "identify":
            type_ = "identify"
            props = {"traits": _traits(obj)}
        case "alias":
            type_ = "alias"
            anonymous_id = as_id(obj.get("previousId"), "previousId")
            if contact_id is None or anonymous_id is None:
                raise EventError("`alias`: expected both `previousId` and `userId`")
            props = {}
        case _:  # group
            type_ = "group"
            props = {"group_id": as_id(obj.get("groupId"), "groupId"), "traits": _traits(obj)}
    if contact_id is None and anonymous_id is None:
        raise EventError("the message has neither `userId` nor `anonymousId`")
    event_id = as_id(obj.get("messageId"), "messageId")
    return [
        decoder.build(
            type_,
            first_ts(obj, _TIMES),
            event_id=None if event_id is None else str(event_id),
            contact_id=contact_id,
            anonymous_id=anonymous_id,
            props=props,
            is_spec_type=is_spec,
        )
    ]


def _traits(obj: dict[str, Any]) -> dict[str, Any]:
    """`traits` over `context.traits`, with the context's `timezone` and `locale`."""
    context = as_dict(obj.get("context"), "context")
    traits = dict(as_dict(context.get("traits"), "context.traits"))
    traits.update(as_dict(obj.get("traits"), "traits"))
    for name in ("timezone", "locale"):
        if isinstance(context.get(name), str):
            traits.setdefault(name, context[name])
    return traits


def _fill_commerce(type_: str, props: dict[str, Any]) -> None:
    """pulse's fields from the spec's properties (in place): ids as text, numbers as numbers."""
    product = props.get("product_id", props.get("id", props.get("sku")))
    if product is not None:
        props["product_id"] = as_id(product, "properties.product_id")
    order = props.get("order_id", props.get("orderId"))
    if order is not None:
        props["order_id"] = as_id(order, "properties.order_id")
    for name in ("price", "quantity", "revenue", "total", "value"):
        if name in props:
            props[name] = as_number(props[name], f"properties.{name}")
    if type_ in _CART_TYPES:
        return
    products = as_list(props.get("products"), "properties.products")
    if type_ in _ORDER_TYPES:
        revenue = _first(props, ("revenue", "total", "value"))
        if revenue is not None or products:
            props["revenue"] = revenue if revenue is not None else _products_value(products)
    elif type_ in _VALUE_TYPES:
        value = _first(props, ("value", "total", "revenue"))
        if value is not None or products:
            props["cart_value"] = value if value is not None else _products_value(products)


def _first(props: dict[str, Any], names: tuple[str, ...]) -> float | int | None:
    for name in names:
        if props.get(name) is not None:
            value: float | int = props[name]
            return value
    return None


def _products_value(products: list[Any]) -> float:
    """The sum of price x quantity over a `products` array (quantity 1 when absent).

    >>> _products_value([{"price": 19, "quantity": 1}, {"price": 3, "quantity": 2}])
    25.0
    """
    total = 0.0
    for i, product in enumerate(products):
        item = as_dict(product, f"properties.products[{i}]")
        price = as_number(item.get("price"), f"properties.products[{i}].price") or 0
        quantity = as_number(item.get("quantity"), f"properties.products[{i}].quantity")
        total += price * (1 if quantity is None else quantity)
    return total
