"""Input events: the wire format, its strict decoder, and dead letters.

An event is one JSON object (one line in a file, one Kafka message):

    {"event_id": "e1", "type": "add_to_cart", "ts": "2026-01-05T10:00:00Z",
     "contact_id": "c42", "props": {"product_id": "p1", "price": 19.9}}

`decode_event` turns raw bytes into an `Event` or raises `EventError`; it never
raises anything else. Segment/RudderStack and GA4 event names are mapped onto
pulse's canonical types at this edge, so nothing downstream sees vendor names.
Whole vendor payloads (Segment, GA4, Snowplow) are read by `pulse.connectors.formats`,
which maps them onto the same fields and builds events with `EventDecoder.build`.

Whatever the bytes, a decoded `Event` keeps these promises, so the journey, CEL
conditions and the JSON encoders downstream need no guards of their own:

- ids (`event_id`, `contact_id`, `anonymous_id`, and `product_id`, `order_id`,
  `channel` when they are strings) are 1 to 256 characters with no control characters;
- `props` nests at most `MAX_PROPS_DEPTH` deep and holds at most
  `MAX_PROPS_VALUES` values; its strings and keys hold no NUL; its integers fit in
  64 bits; its floats are finite (JSON has no NaN or Infinity, and msgspec refuses
  numbers beyond a double);
- the numbers pulse computes with lie in `PROP_LIMITS` (a `price` of 1e200 is a
  dead letter, not a poisoned model).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import msgspec
import orjson

from pulse.errors import EventError

__all__ = [
    "CANONICAL_TYPES",
    "MAX_ID_CHARS",
    "MAX_LINE_BYTES",
    "MAX_PROPS_DEPTH",
    "MAX_PROPS_VALUES",
    "PROP_LIMITS",
    "Event",
    "EventDecoder",
    "Rejected",
    "decode_event",
    "derive_event_id",
    "parse_ts",
]

MAX_LINE_BYTES = 1 << 20
"""Default largest accepted event, in bytes; larger lines become dead letters unread."""
MAX_ID_CHARS = 256
"""Longest id (`event_id`, `contact_id`, `anonymous_id`, string `product_id`...)."""
MAX_PROPS_DEPTH = 32
"""Deepest nesting of objects and arrays in `props` (`props` itself is depth 1)."""
MAX_PROPS_VALUES = 10_000
"""Most values (nested ones included) in one event's `props`."""
PROP_LIMITS: dict[str, tuple[float, float]] = {
    "price": (0.0, 1e9),
    "cart_value": (0.0, 1e9),
    "revenue": (-1e9, 1e9),
    "quantity": (0.0, 10_000.0),
}
"""Inclusive range of each number pulse computes with; outside it the event is a dead letter."""

CANONICAL_TYPES: frozenset[str] = frozenset(
    {
        "page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
        "cart_view", "checkout_started", "purchase", "refund", "signup", "login",
        "identify", "email_sent", "email_open", "email_click", "sms_click", "push_open",
        "form_submit", "webinar_attended", "survey_response", "review_submitted",
        "unsubscribe", "consent", "email_bounced", "spam_complaint",
    }
)  # fmt: skip

# Vendor vocabularies mapped at the edge (Segment e-commerce spec v2, GA4 recommended events).
VENDOR_TYPES: dict[str, str] = {
    "Page Viewed": "page_view", "Product Viewed": "product_view",
    "Products Searched": "search", "Product Added": "add_to_cart",
    "Product Removed": "remove_from_cart", "Cart Viewed": "cart_view",
    "Checkout Started": "checkout_started", "Order Completed": "purchase",
    "Order Refunded": "refund", "Signed Up": "signup", "Signed In": "login",
    "Email Opened": "email_open", "Email Link Clicked": "email_click",
    "page_view": "page_view", "view_item": "product_view", "view_item_list": "page_view",
    "view_cart": "cart_view", "begin_checkout": "checkout_started", "sign_up": "signup",
    "generate_lead": "form_submit",
}  # fmt: skip


class Event(msgspec.Struct, frozen=True, gc=False):
    """A decoded, validated clickstream event. `key` is the contact it belongs to."""

    event_id: str
    type: str
    ts_ms: int
    key: str
    contact_id: str | None
    anonymous_id: str | None
    props: dict[str, Any]


class Rejected(msgspec.Struct, frozen=True):
    """A dead letter: input pulse could not use, why, and where it came from."""

    reason: str
    raw: str
    source: str
    offset: int


class _Wire(msgspec.Struct, frozen=True, gc=False):
    type: str
    ts: str | int
    event_id: str | None = None
    contact_id: str | int | None = None
    anonymous_id: str | int | None = None
    props: dict[str, Any] = {}


_STRING_PROPS = frozenset({"product_id", "order_id", "channel"})
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_JSON_DEPTH = MAX_PROPS_DEPTH + 1  # the event object holds `props`
_SHALLOW_BYTES = 256
"""Lines up to this size nest at most this deep, which msgspec handles on a 128 KiB stack."""
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")
_MIN_TS_MS = 946_684_800_000  # 2000-01-01: smaller numbers are seconds or garbage
_MAX_TS_MS = 4_102_444_800_000  # 2100-01-01


def parse_ts(value: str | int) -> int:
    """Event time in epoch milliseconds, from ISO-8601 with a zone or epoch ms.

    >>> parse_ts("2026-01-05T10:00:00Z")
    1767607200000
    >>> parse_ts(1767607200000)
    1767607200000
    """
    if isinstance(value, int):
        ts_ms = value
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise EventError(f"`ts`: expected ISO-8601 or epoch ms, got `{value[:40]}`") from None
        if parsed.tzinfo is None:
            raise EventError(f"`ts`: `{value[:40]}` has no time zone (add `Z` or `+00:00`)")
        ts_ms = int(parsed.timestamp() * 1000)
    if not _MIN_TS_MS <= ts_ms < _MAX_TS_MS:
        raise EventError(f"`ts`: {_clip(ts_ms)} is outside 2000..2100 in epoch milliseconds")
    return ts_ms


def derive_event_id(type_: str, ts_ms: int, key: str, props: dict[str, Any]) -> str:
    """A stable id for events that carry none: the same content always gives the same id.

    >>> derive_event_id("page_view", 1, "c1", {}) == derive_event_id("page_view", 1, "c1", {})
    True
    """
    body = orjson.dumps([type_, ts_ms, key, props], option=orjson.OPT_SORT_KEYS)
    return "h:" + hashlib.blake2b(body, digest_size=12).hexdigest()


class EventDecoder:
    """Decodes raw lines into `Event`s, accepting the canonical types plus `extra_types`."""

    def __init__(
        self, extra_types: frozenset[str] = frozenset(), max_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self._decoder = msgspec.json.Decoder(_Wire)
        self._types = {t: t for t in CANONICAL_TYPES | extra_types} | VENDOR_TYPES
        self._max_bytes = max_bytes

    def decode(self, raw: bytes) -> Event:
        """Decode one event or raise `EventError` saying what is wrong."""
        if len(raw) > self._max_bytes:
            raise EventError(f"event is {len(raw)} bytes, over the {self._max_bytes} byte limit")
        # A short line cannot nest deep enough to hurt msgspec (the props walk bounds
        # its depth); a long one is scanned when it holds enough brackets.
        if len(raw) > _SHALLOW_BYTES and raw.count(b"{") + raw.count(b"[") > _MAX_JSON_DEPTH:
            _check_depth(raw)
        try:
            wire = self._decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise EventError(_decode_problem(raw, exc)) from exc
        except UnicodeDecodeError as exc:  # msgspec 0.22 lets this one through
            raise EventError(_invalid_utf8(raw, exc)) from exc
        except RecursionError as exc:  # `_check_depth` should have refused it first
            raise EventError(f"nested more than {MAX_PROPS_DEPTH} deep") from exc
        return self._validate(wire)

    def precheck(self, raw: bytes) -> None:
        """Refuse a line too large or nested too deep to parse safely (`decode` does this
        itself; input formats call it before they parse a vendor payload)."""
        if len(raw) > self._max_bytes:
            raise EventError(f"event is {len(raw)} bytes, over the {self._max_bytes} byte limit")
        if raw.count(b"{") + raw.count(b"[") > _MAX_JSON_DEPTH:
            _check_depth(raw)

    def build(
        self,
        type_: str,
        ts: str | int,
        *,
        event_id: str | None,
        contact_id: str | int | None,
        anonymous_id: str | int | None,
        props: dict[str, Any],
        is_spec_type: bool = False,
    ) -> Event:
        """The hook for input formats (`pulse.connectors.formats`): an `Event` from the
        fields a vendor layout was mapped to, kept to the same promises as `decode`.

        `is_spec_type` accepts `type_` even when neither canonical nor declared: a name
        from a vendor's published vocabulary (Segment's `coupon_applied`) that rules
        may still declare and score.

        >>> EventDecoder().build("coupon_applied", 1767607200000, event_id=None,
        ...     contact_id="c1", anonymous_id=None, props={}, is_spec_type=True).type
        'coupon_applied'
        """
        wire = _Wire(type_, ts, event_id, contact_id, anonymous_id, props)
        if is_spec_type and type_ not in self._types:
            return self._checked(wire, type_)
        return self._validate(wire)

    def _validate(self, wire: _Wire) -> Event:
        type_ = self._types.get(wire.type)
        if type_ is None:
            raise EventError(
                f"unknown event type `{wire.type[:60]}`; declare it under `event_types` "
                "in the rules file to accept it"
            )
        return self._checked(wire, type_)

    def _checked(self, wire: _Wire, type_: str) -> Event:
        contact_id = _as_id(wire.contact_id, "contact_id")
        anonymous_id = _as_id(wire.anonymous_id, "anonymous_id")
        event_id = _as_id(wire.event_id or None, "event_id")
        if contact_id is None and anonymous_id is None:
            raise EventError("event has neither `contact_id` nor `anonymous_id`")
        key = contact_id if contact_id is not None else "anon:" + str(anonymous_id)
        ts_ms = parse_ts(wire.ts)
        _check_props(wire.props)
        event_id = event_id or _derived_id(type_, ts_ms, key, wire.props)
        return Event(event_id, type_, ts_ms, key, contact_id, anonymous_id, wire.props)


def _check_depth(raw: bytes) -> None:
    """Refuse JSON nested deeper than `_MAX_JSON_DEPTH` before msgspec recurses into it.

    msgspec recurses once per level: deep enough, it raises `RecursionError`, and in a
    thread with a small stack (256 KiB; musl's default is 128 KiB) it crashes the
    process first. Brackets inside strings do not count.

    >>> _check_depth(b'{"a":"[[[[","b":[[1]]}')
    >>> _check_depth(b"[" * 40)
    Traceback (most recent call last):
    pulse.errors.EventError: nested more than 32 deep (objects and arrays in the event)
    """
    depth = 0
    for bracket in _BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
        if bracket.group() in (b"{", b"["):
            depth += 1
            if depth > _MAX_JSON_DEPTH:
                raise EventError(
                    f"nested more than {MAX_PROPS_DEPTH} deep (objects and arrays in the event)"
                )
        else:
            depth -= 1


def _decode_problem(raw: bytes, exc: msgspec.DecodeError) -> str:
    """msgspec's message, with the offending bytes and offset when it is bad UTF-8.

    msgspec 0.23 says only "Invalid UTF-8 encoded string"; Python's own decoder
    finds where.
    """
    message = str(exc)
    if "UTF-8" in message:
        try:
            raw.decode()
        except UnicodeDecodeError as found:
            return _invalid_utf8(raw, found)
    return message


def _invalid_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    """msgspec's way of saying where: the byte offset of the bad sequence in `raw`.

    >>> raw = b'{"type":"c\\xff"}'
    >>> try:
    ...     raw[10:11].decode()
    ... except UnicodeDecodeError as exc:
    ...     _invalid_utf8(raw, exc)
    "JSON is malformed: invalid UTF-8 `b'\\\\xff'` (byte 10)"
    """
    bad = bytes(exc.object[exc.start : exc.end])
    found = raw.find(bytes(exc.object))  # msgspec hands over the string's bytes as they were
    where = f" (byte {found + exc.start})" if found >= 0 else ""
    return f"JSON is malformed: invalid UTF-8 `{bad!r}`{where}"


def _derived_id(type_: str, ts_ms: int, key: str, props: dict[str, Any]) -> str:
    try:
        return derive_event_id(type_, ts_ms, key, props)
    except TypeError as exc:  # orjson refuses integers beyond 64 bits
        raise EventError(f"`props` cannot be fingerprinted for an `event_id`: {exc}") from exc


def _as_id(value: str | int | None, name: str) -> str | None:
    if type(value) is str and 0 < len(value) <= MAX_ID_CHARS and value.isprintable():
        return value  # the common case, first: this runs up to five times per event
    if value is None:
        return None
    if type(value) is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise EventError(f"`{name}`: integer {_clip(value)} does not fit in 64 bits")
        return str(value)
    text = str(value)
    if not 0 < len(text) <= MAX_ID_CHARS:
        raise EventError(f"`{name}` must be 1 to {MAX_ID_CHARS} characters, got {len(text)}")
    if control := _CONTROL.search(text):  # not printable is not always a control character
        raise EventError(f"`{name}` holds control character {control.group()!r}")
    return text


def _clip(value: object, width: int = 40) -> str:
    """`value` as text, cut to `width` characters: a hostile value never floods a reason.

    >>> _clip(10**50)
    '1000000000000000000000000000000000000000...'
    """
    try:
        text = str(value)
    except ValueError:  # an integer past Python's 4300-digit limit for text
        text = "a huge integer"
    return text if len(text) <= width else text[:width] + "..."


def _check_props(props: dict[str, Any]) -> None:
    """Type- and range-check the props pulse reads, and bound the shape of all of them.

    One pass over the top level (this runs for every event, so the common cases,
    text and numbers, are checked inline); nested values are walked by `_check_nested`.
    """
    count = len(props)
    for name, value in props.items():
        kind = type(value)
        limits = PROP_LIMITS.get(name)
        if limits is not None:
            if value is not None:
                _check_number(name, value, limits)
        elif name in _STRING_PROPS:
            if value is not None:
                if kind is not str and kind is not int:
                    raise EventError(f"`props.{name}`: expected a string, got `{value!r:.40}`")
                _as_id(value, f"props.{name}")
        elif kind is float or (kind is str and "\x00" not in value):
            if "\x00" in name:
                raise EventError("`props`: a key holds a NUL character")
        else:
            count += _check_value(value, "props", name, 1)
    if count > MAX_PROPS_VALUES:
        raise EventError(f"`props` holds more than {MAX_PROPS_VALUES} values")


def _check_number(name: str, value: Any, limits: tuple[float, float]) -> None:
    if type(value) is not float and type(value) is not int:
        raise EventError(f"`props.{name}`: expected a number, got `{value!r:.40}`")
    low, high = limits
    if not low <= value <= high:
        raise EventError(
            f"`props.{name}`: {_clip(value)} is outside {low:g}..{high:g}, "
            f"the range pulse accepts for `{name}`"
        )


def _check_value(value: Any, path: str, name: str | int, depth: int) -> int:
    """Check one value found under `name` in the container at `path`, `depth` deep.

    Returns how many values a nested object or array holds.
    """
    if type(name) is str and "\x00" in name:
        raise EventError(f"`{path}`: a key holds a NUL character")
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            raise EventError(f"`{_child(path, name)}`: text holds a NUL character")
    elif kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise EventError(
                f"`{_child(path, name)}`: integer {_clip(value)} does not fit in 64 bits"
            )
    elif kind is dict or kind is list:
        return _check_nested(value, _child(path, name), depth + 1)
    return 0


def _check_nested(value: dict[str, Any] | list[Any], path: str, depth: int) -> int:
    """Check an object or array in `props`; returns how many values it holds, nested included.

    >>> _check_nested({"a": [1, {"b": "x"}]}, "props.x", 2)
    4
    """
    if depth > MAX_PROPS_DEPTH:
        raise EventError(f"`{path}`: nested more than {MAX_PROPS_DEPTH} deep")
    items = value.items() if type(value) is dict else enumerate(value)
    count = len(value)
    for name, item in items:
        count += _check_value(item, path, name, depth)
    return count


def _child(path: str, name: str | int) -> str:
    if type(name) is int:
        return f"{path}[{name}]"
    return f"{path}.{str(name)[:40]}"


_DEFAULT_DECODER = EventDecoder()


def decode_event(raw: bytes) -> Event:
    """Decode one event with the canonical vocabulary; raises `EventError` only.

    >>> decode_event(b'{"type":"signup","ts":1767607200000,"contact_id":"c1"}').type
    'signup'
    """
    return _DEFAULT_DECODER.decode(raw)
