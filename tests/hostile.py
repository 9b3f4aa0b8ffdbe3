"""Hostile input lines, by category: each must become a dead letter, never a crash.

Shared by the decoder's unit tests and the integration tests that push the same
lines through the real flow (files and Kafka). Each entry is the raw line, its
category, and a fragment the dead letter's reason must contain.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["HOSTILE", "Hostile"]


class Hostile(NamedTuple):
    """One hostile line and what its dead letter must say."""

    raw: bytes
    category: str
    reason: str


_HEAD = b'{"type":"page_view","ts":1767607200000,'
_CART = b'{"type":"add_to_cart","ts":1767607200000,"contact_id":"h1","props":'


def _props(body: bytes) -> bytes:
    return _HEAD + b'"contact_id":"h1","props":' + body + b"}"


def _deep(depth: int, opener: bytes = b'{"x":', closer: bytes = b"}") -> bytes:
    return opener * depth + b"1" + closer * depth


HOSTILE: list[Hostile] = [
    # invalid UTF-8 anywhere: ids, values, keys, types; overlong forms, encoded surrogates
    Hostile(_HEAD + b'"contact_id":"c\xff1"}', "utf8", "UTF-8"),
    Hostile(_props(b'{"x":"caf\xc3"}'), "utf8", "UTF-8"),
    Hostile(_props(b'{"\xfe\xff":1}'), "utf8", "UTF-8"),
    Hostile(b'{"type":"page\x80view","ts":1767607200000,"contact_id":"h1"}', "utf8", "UTF-8"),
    Hostile(_props(b'{"x":"\xc0\xaf"}'), "utf8", "UTF-8"),
    Hostile(_props(b'{"x":"\xed\xa0\x80"}'), "utf8", "UTF-8"),
    Hostile(_HEAD + b'"contact_id":"h1","event_id":"\xf4\x90\x80\x80"}', "utf8", "UTF-8"),
    # any nesting depth
    Hostile(_props(_deep(10_000)), "depth", "deep"),
    Hostile(_props(b'{"x":' + _deep(10_000, b"[", b"]") + b"}"), "depth", "deep"),
    Hostile(_props(_deep(1_000)), "depth", "deep"),
    Hostile(_props(_deep(33)), "depth", "nested more than 32 deep"),
    Hostile(b"[" * 250, "depth", "Expected `object`"),  # short: msgspec itself recurses
    Hostile(_props(b'{"x":[' + b"0," * 10_000 + b"0]}"), "size", "values"),
    # NUL, raw and escaped
    Hostile(_HEAD + b'"contact_id":"c\x001"}', "nul", "malformed"),
    Hostile(_HEAD + b'"contact_id":"c\\u00001"}', "nul", "control character"),
    Hostile(_HEAD + b'"anonymous_id":"\\u0000"}', "nul", "control character"),
    Hostile(_props(b'{"note":"a\\u0000b"}'), "nul", "NUL"),
    Hostile(_props(b'{"a\\u0000":1}'), "nul", "NUL"),
    Hostile(b"\x00" * 64, "nul", "malformed"),
    # huge numbers
    Hostile(_CART + b'{"price":1e400}}', "huge-number", "out of range"),
    Hostile(_CART + b'{"price":-1e400}}', "huge-number", "out of range"),
    Hostile(_CART + b'{"price":' + b"1" + b"0" * 400 + b"}}", "huge-number", "price"),
    Hostile(_props(b'{"n":' + b"9" * 400 + b"}"), "huge-number", "64 bits"),
    Hostile(_props(b'{"n":' + b"9" * 5000 + b"}"), "huge-number", "out of range"),
    Hostile(_props(b'{"n":18446744073709551616}'), "huge-number", "64 bits"),
    Hostile(_HEAD[:-1] + b',"contact_id":' + b"9" * 400 + b"}", "huge-number", "contact_id"),
    Hostile(
        b'{"type":"page_view","ts":' + b"9" * 400 + b',"contact_id":"h1"}', "huge-number", "ts"
    ),
    Hostile(_CART + b'{"product_id":' + b"9" * 30 + b"}}", "huge-number", "product_id"),
    # NaN and Infinity literals (not JSON)
    Hostile(_CART + b'{"price":NaN}}', "nan", "malformed"),
    Hostile(_CART + b'{"price":Infinity}}', "nan", "malformed"),
    Hostile(_CART + b'{"price":-Infinity}}', "nan", "malformed"),
    Hostile(_props(b'{"x":nan}'), "nan", "malformed"),
    # numbers the model would choke on
    Hostile(_CART + b'{"price":1e200}}', "range", "props.price"),
    Hostile(_CART + b'{"price":-5}}', "range", "props.price"),
    Hostile(_CART + b'{"quantity":1e308}}', "range", "props.quantity"),
    Hostile(_CART + b'{"quantity":10001}}', "range", "props.quantity"),
    Hostile(
        b'{"type":"cart_view","ts":1767607200000,"contact_id":"h1","props":{"cart_value":2e9}}',
        "range",
        "props.cart_value",
    ),
    Hostile(
        b'{"type":"purchase","ts":1767607200000,"contact_id":"h1","props":{"revenue":-1e300}}',
        "range",
        "props.revenue",
    ),
    # huge ids
    Hostile(_HEAD + b'"contact_id":"h1","event_id":"' + b"e" * 100_000 + b'"}', "id", "event_id"),
    Hostile(_HEAD + b'"contact_id":"' + b"c" * 257 + b'"}', "id", "contact_id"),
    Hostile(_HEAD + b'"anonymous_id":"' + b"a" * 5000 + b'"}', "id", "anonymous_id"),
    Hostile(_CART + b'{"product_id":"' + b"p" * 300 + b'"}}', "id", "product_id"),
    Hostile(_CART + b'{"order_id":"o\\n1"}}', "id", "control character"),
    # props that are not an object
    Hostile(_props(b"[1,2]"), "props-shape", "$.props"),
    Hostile(_props(b'"text"'), "props-shape", "$.props"),
    Hostile(_props(b"42"), "props-shape", "$.props"),
    Hostile(_props(b"null"), "props-shape", "$.props"),
    Hostile(_props(b"true"), "props-shape", "$.props"),
    # numbers where strings are expected, and the reverse
    Hostile(b'{"type":5,"ts":1767607200000,"contact_id":"h1"}', "types", "$.type"),
    Hostile(_HEAD + b'"contact_id":"h1","event_id":5}', "types", "$.event_id"),
    Hostile(_HEAD + b'"contact_id":1.5}', "types", "$.contact_id"),
    Hostile(_CART + b'{"product_id":true}}', "types", "props.product_id"),
    Hostile(_CART + b'{"channel":1.5}}', "types", "props.channel"),
    Hostile(_CART + b'{"price":"19.90"}}', "types", "props.price"),
    Hostile(_CART + b'{"quantity":[1]}}', "types", "props.quantity"),
    # not an event at all
    Hostile(b"[]", "shape", "Expected `object`"),
    Hostile(b'"page_view"', "shape", "Expected `object`"),
    Hostile(b"\xef\xbb\xbf" + _HEAD + b'"contact_id":"h1"}', "shape", "malformed"),
    Hostile(b"{" * 50_000, "shape", ""),
]
