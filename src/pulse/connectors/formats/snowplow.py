"""Snowplow enriched events: the enriched TSV (131 fields) and its JSON layout.

The TSV is the enriched stream as Snowplow's enrich writes it: `ENRICHED_FIELDS`, in
order, tab-separated; `contexts`, `derived_contexts` and `unstruct_event` hold
self-describing JSON. The JSON layout is the shape Snowplow's analytics SDKs turn a TSV
line into (and warehouse exports resemble): the same field names, each context as
`contexts_<vendor>_<name>_<model>` holding an array of its data and the self-describing
event as `unstruct_event_<vendor>_<name>_<model>` holding its data (warehouse columns
end in the full version, `_1_0_0`, and may hold the JSON as text: both are read).

`user_id` is the contact, `domain_userid` (else `network_userid`) the anonymous id,
`event_id` the event id, `derived_tstamp` (else `collector_tstamp`) the time. Events map
by `event`: `page_view`, `page_ping`, structured events (`struct`: the type is
`se_action` in snake case, with `se_category`, `se_label`, `se_property`, `se_value`),
`transaction` (-> `purchase`: `tr_orderid`, `tr_total`) and `transaction_item`; a
self-describing event (`unstruct`) maps by its name, the e-commerce plugin's
`snowplow_ecommerce_action` by its `type` (`ECOMMERCE_TYPES`), its product, cart and
transaction contexts giving `product_id`, `price`, `quantity`, `cart_value`, `revenue`
and `order_id`; an `add_to_cart` or `remove_from_cart` of several products gives one
pulse event per product.

The PyPI package `snowplow-analytics-sdk` (0.2.3, 2017) does the TSV-to-JSON step but
requires `boto3` for features pulse does not use; this small field table does the same.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

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

__all__ = [
    "ECOMMERCE_TYPES",
    "ENRICHED_FIELDS",
    "EVENT_TYPES",
    "decode_snowplow_json",
    "decode_snowplow_tsv",
]

ENRICHED_FIELDS: tuple[str, ...] = (
    "app_id", "platform", "etl_tstamp", "collector_tstamp", "dvce_created_tstamp", "event",
    "event_id", "txn_id", "name_tracker", "v_tracker", "v_collector", "v_etl", "user_id",
    "user_ipaddress", "user_fingerprint", "domain_userid", "domain_sessionidx",
    "network_userid", "geo_country", "geo_region", "geo_city", "geo_zipcode", "geo_latitude",
    "geo_longitude", "geo_region_name", "ip_isp", "ip_organization", "ip_domain",
    "ip_netspeed", "page_url", "page_title", "page_referrer", "page_urlscheme", "page_urlhost",
    "page_urlport", "page_urlpath", "page_urlquery", "page_urlfragment", "refr_urlscheme",
    "refr_urlhost", "refr_urlport", "refr_urlpath", "refr_urlquery", "refr_urlfragment",
    "refr_medium", "refr_source", "refr_term", "mkt_medium", "mkt_source", "mkt_term",
    "mkt_content", "mkt_campaign", "contexts", "se_category", "se_action", "se_label",
    "se_property", "se_value", "unstruct_event", "tr_orderid", "tr_affiliation", "tr_total",
    "tr_tax", "tr_shipping", "tr_city", "tr_state", "tr_country", "ti_orderid", "ti_sku",
    "ti_name", "ti_category", "ti_price", "ti_quantity", "pp_xoffset_min", "pp_xoffset_max",
    "pp_yoffset_min", "pp_yoffset_max", "useragent", "br_name", "br_family", "br_version",
    "br_type", "br_renderengine", "br_lang", "br_features_pdf", "br_features_flash",
    "br_features_java", "br_features_director", "br_features_quicktime",
    "br_features_realplayer", "br_features_windowsmedia", "br_features_gears",
    "br_features_silverlight", "br_cookies", "br_colordepth", "br_viewwidth", "br_viewheight",
    "os_name", "os_family", "os_manufacturer", "os_timezone", "dvce_type", "dvce_ismobile",
    "dvce_screenwidth", "dvce_screenheight", "doc_charset", "doc_width", "doc_height",
    "tr_currency", "tr_total_base", "tr_tax_base", "tr_shipping_base", "ti_currency",
    "ti_price_base", "base_currency", "geo_timezone", "mkt_clickid", "mkt_network", "etl_tags",
    "dvce_sent_tstamp", "refr_domain_userid", "refr_device_tstamp", "derived_contexts",
    "domain_sessionid", "derived_tstamp", "event_vendor", "event_name", "event_format",
    "event_version", "event_fingerprint", "true_tstamp",
)  # fmt: skip
"""The enriched event's fields, in TSV order."""

EVENT_TYPES: dict[str, str] = {
    "page_view": "page_view",
    "page_ping": "page_ping",
    "transaction": "purchase",
    "transaction_item": "transaction_item",
    # self-describing events of Snowplow's own schemas
    "screen_view": "page_view",
    "link_click": "link_click",
    "submit_form": "form_submit",
    "site_search": "search",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
}
"""`event` (or, for `unstruct`, `event_name`) -> pulse type."""

ECOMMERCE_TYPES: dict[str, str] = {
    "product_view": "product_view",
    "list_view": "page_view",
    "list_click": "product_clicked",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "checkout_step": "checkout_started",
    "transaction": "purchase",
    "refund": "refund",
    "promo_view": "promotion_viewed",
    "promo_click": "promotion_clicked",
    "trns_error": "transaction_error",
}
"""The e-commerce plugin's action `type` -> pulse type (a `checkout_step` past step 1 is
`checkout_step`)."""

_ECOMMERCE = "com_snowplowanalytics_snowplow_ecommerce_"
_ACTION = f"unstruct_event_{_ECOMMERCE}snowplow_ecommerce_action_1"
_PRODUCT = f"contexts_{_ECOMMERCE}product_1"
_CART = f"contexts_{_ECOMMERCE}cart_1"
_TRANSACTION = f"contexts_{_ECOMMERCE}transaction_1"
_CHECKOUT_STEP = f"contexts_{_ECOMMERCE}checkout_step_1"
_FULL_VERSION = re.compile(r"^((?:contexts|unstruct_event)_.+_\d+)_\d+_\d+$")
_IGLU = re.compile(r"^iglu:([a-zA-Z0-9_.-]+)/([a-zA-Z0-9_-]+)/[a-zA-Z0-9_-]+/([1-9][0-9]*)-")
_CAMEL = re.compile(r"([^A-Z_])([A-Z])")
_PER_PRODUCT = frozenset({"add_to_cart", "remove_from_cart"})


def decode_snowplow_tsv(raw: bytes, decoder: EventDecoder) -> list[Event]:
    """The pulse events of one enriched TSV line; raises `EventError`.

    A line with fewer fields is read as if the missing ones were empty (reading a
    line trims its trailing tabs, and older enrich versions wrote fewer fields).
    """
    try:
        values = raw.decode().split("\t")
    except UnicodeDecodeError as exc:
        raise EventError(f"not UTF-8 (byte {exc.start})") from None
    if len(values) > len(ENRICHED_FIELDS):
        raise EventError(f"expected {len(ENRICHED_FIELDS)} tab-separated fields, got {len(values)}")
    fields: dict[str, Any] = {}
    for name, value in zip(ENRICHED_FIELDS, values, strict=False):
        if not value:
            continue
        if name in ("contexts", "derived_contexts"):
            _shred_contexts(_json(value, name), name, fields)
        elif name == "unstruct_event":
            _shred_unstruct(_json(value, name), fields)
        else:
            fields[name] = value
    return _events(fields, decoder)


def decode_snowplow_json(obj: dict[str, Any], decoder: EventDecoder) -> list[Event]:
    """The pulse events of one enriched event in the JSON layout; raises `EventError`."""
    fields: dict[str, Any] = {}
    for name, value in obj.items():
        if value is None or value == "":
            continue  # warehouse exports write NULL as an empty string
        if name.startswith(("contexts_", "unstruct_event_")):
            short = _FULL_VERSION.sub(r"\1", name)
            fields[short] = _json(value, name) if isinstance(value, str) else value
        else:
            fields[name] = value
    return _events(fields, decoder)


def _json(text: str, where: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise EventError(f"JSON is malformed: {exc} - at `{where}`") from None


def _schema_key(prefix: str, schema: object, where: str) -> str:
    """The JSON layout's key for a schema URI (the analytics SDKs' rule).

    >>> _schema_key("contexts", "iglu:com.acme/someEvent/jsonschema/1-0-2", "contexts")
    'contexts_com_acme_some_event_1'
    """
    match = _IGLU.match(schema) if isinstance(schema, str) else None
    if match is None:
        raise expected("an Iglu schema URI", schema, f"{where}.schema")
    vendor, name, model = match.groups()
    vendor = vendor.replace(".", "_").replace("-", "_").lower()
    name = _CAMEL.sub(r"\1_\2", name).lower()
    return f"{prefix}_{vendor}_{name}_{model}"


def _shred_contexts(value: object, where: str, fields: dict[str, Any]) -> None:
    contexts = as_dict(value, where)
    for i, context in enumerate(as_list(contexts.get("data"), f"{where}.data")):
        at = f"{where}.data[{i}]"
        entry = as_dict(context, at)
        key = _schema_key("contexts", entry.get("schema"), at)
        fields.setdefault(key, []).append(entry.get("data"))


def _shred_unstruct(value: object, fields: dict[str, Any]) -> None:
    inner = as_dict(as_dict(value, "unstruct_event").get("data"), "unstruct_event.data")
    key = _schema_key("unstruct_event", inner.get("schema"), "unstruct_event.data")
    fields[key] = inner.get("data")


def _events(fields: dict[str, Any], decoder: EventDecoder) -> list[Event]:
    """pulse events from an enriched event's fields, contexts shredded by schema."""
    contact_id = as_id(fields.get("user_id"), "user_id")
    anonymous_id = as_id(
        fields.get("domain_userid") or fields.get("network_userid"), "domain_userid"
    )
    if contact_id is None and anonymous_id is None:
        raise EventError("the event has neither `user_id` nor `domain_userid`")
    event_id = as_id(fields.get("event_id"), "event_id")
    if event_id is None:
        raise EventError("`event_id` is missing")
    ts_ms = first_ts(fields, ("derived_tstamp", "collector_tstamp"))
    kind = fields.get("event")
    if not isinstance(kind, str) or not kind:
        raise expected("the event kind", kind, "event")
    props: dict[str, Any] = {}
    for name in ("page_url", "page_title", "page_referrer", "app_id", "platform"):
        if isinstance(fields.get(name), str):
            props[name] = fields[name]
    props_list = [props]
    is_spec = True
    match kind:
        case "struct":
            action = fields.get("se_action")
            if not isinstance(action, str) or not action:
                raise expected("the structured event's action", action, "se_action")
            type_, is_spec = snake(action), False
            for name in ("se_category", "se_label", "se_property"):
                if fields.get(name) is not None:
                    props[name.removeprefix("se_")] = fields[name]
            value = as_number(fields.get("se_value"), "se_value")
            if value is not None:
                props["value"] = value
        case "transaction":
            type_ = "purchase"
            _set(props, "order_id", as_id(fields.get("tr_orderid"), "tr_orderid"))
            _set(props, "revenue", as_number(fields.get("tr_total"), "tr_total"))
            _set(props, "currency", fields.get("tr_currency"))
        case "transaction_item":
            type_ = "transaction_item"
            _set(props, "order_id", as_id(fields.get("ti_orderid"), "ti_orderid"))
            _set(props, "product_id", as_id(fields.get("ti_sku"), "ti_sku"))
            _set(props, "price", as_number(fields.get("ti_price"), "ti_price"))
            _set(props, "quantity", as_number(fields.get("ti_quantity"), "ti_quantity"))
        case "unstruct" if _ACTION in fields:
            type_, props_list = _ecommerce(fields, props)
        case "unstruct" if fields.get("event_name") == "snowplow_ecommerce_action":
            raise EventError(
                f"`{_ACTION}` is missing: the e-commerce action has no data "
                f"(event_vendor `{str(fields.get('event_vendor'))[:60]}`)"
            )
        case _:
            named = fields.get("event_name") if kind == "unstruct" else kind
            if not isinstance(named, str) or not named:
                raise expected("the event name", named, "event_name")
            mapped = EVENT_TYPES.get(named)
            type_, is_spec = (mapped, True) if mapped else (snake(named), False)
    build = decoder.build
    return [
        build(
            type_,
            ts_ms,
            event_id=str(event_id) if len(props_list) == 1 else f"{event_id}:{j}",
            contact_id=contact_id,
            anonymous_id=anonymous_id,
            props=p,
            is_spec_type=is_spec,
        )
        for j, p in enumerate(props_list)
    ]


def _set(props: dict[str, Any], name: str, value: object) -> None:
    if value is not None and value != "":
        props[name] = value


def _ecommerce(fields: dict[str, Any], props: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The e-commerce plugin's action: its type and the props of each pulse event."""
    action = as_dict(fields[_ACTION], _ACTION)
    kind = action.get("type")
    type_ = ECOMMERCE_TYPES.get(kind) if isinstance(kind, str) else None
    if type_ is None:
        raise expected(
            "an e-commerce action (" + ", ".join(ECOMMERCE_TYPES) + ")", kind, f"{_ACTION}.type"
        )
    if isinstance(action.get("name"), str):
        props["list_name"] = action["name"]
    products = [
        as_dict(p, f"{_PRODUCT}[{i}]")
        for i, p in enumerate(as_list(fields.get(_PRODUCT), _PRODUCT))
    ]
    lines = [_product(p, f"{_PRODUCT}[{i}]") for i, p in enumerate(products)]
    carts = as_list(fields.get(_CART), _CART)
    cart = as_dict(carts[0], f"{_CART}[0]") if carts else {}
    cart_value = as_number(cart.get("total_value"), f"{_CART}[0].total_value")
    if type_ in _PER_PRODUCT:
        return type_, [props | line for line in lines] or [props]
    if type_ in ("product_view", "product_clicked") and lines:
        props |= lines[0]
    if type_ == "checkout_started":
        steps = as_list(fields.get(_CHECKOUT_STEP), _CHECKOUT_STEP)
        step = as_dict(steps[0], f"{_CHECKOUT_STEP}[0]").get("step") if steps else None
        if as_number(step, f"{_CHECKOUT_STEP}[0].step") not in (None, 1):
            type_ = "checkout_step"
        _set(props, "step", step)
        _set(props, "cart_value", cart_value)
    if type_ in ("purchase", "refund"):
        transactions = as_list(fields.get(_TRANSACTION), _TRANSACTION)
        txn = as_dict(transactions[0], f"{_TRANSACTION}[0]") if transactions else {}
        _set(
            props, "order_id", as_id(txn.get("transaction_id"), f"{_TRANSACTION}[0].transaction_id")
        )
        revenue = as_number(txn.get("revenue"), f"{_TRANSACTION}[0].revenue")
        if revenue is None:
            revenue = sum(line.get("price", 0.0) * line.get("quantity", 1) for line in lines)
        props["revenue"] = revenue
        _set(props, "currency", txn.get("currency"))
    if lines and type_ not in ("product_view", "product_clicked"):
        props["products"] = products
    return type_, [props]


def _product(product: dict[str, Any], where: str) -> dict[str, Any]:
    """pulse's fields of one product context (ids as text, numbers as numbers)."""
    line: dict[str, Any] = {}
    _set(line, "product_id", as_id(product.get("id"), f"{where}.id"))
    _set(line, "price", as_number(product.get("price"), f"{where}.price"))
    _set(line, "quantity", as_number(product.get("quantity"), f"{where}.quantity"))
    _set(line, "category", product.get("category"))
    _set(line, "currency", product.get("currency"))
    return line
