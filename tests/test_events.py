"""Unit tests of `pulse.events`: the wire format and its strict decoder."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile import HOSTILE, Hostile
from pulse.conditions import compile_condition
from pulse.errors import EventError
from pulse.events import (
    MAX_ID_CHARS,
    MAX_LINE_BYTES,
    MAX_PROPS_DEPTH,
    PROP_LIMITS,
    Event,
    EventDecoder,
    decode_event,
    parse_ts,
)

TS_MS = 1_767_607_200_000  # 2026-01-05T10:00:00Z


def wire(**fields: Any) -> bytes:
    """One event line: a valid page_view for `c1` unless `fields` override it."""
    body: dict[str, Any] = {"type": "page_view", "ts": TS_MS, "contact_id": "c1"}
    body.update(fields)
    return orjson.dumps({k: v for k, v in body.items() if v is not _DROP})


_DROP = object()


# -- timestamps ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05T10:00:00Z", TS_MS),
        ("2026-01-05T10:00:00.250Z", TS_MS + 250),
        ("2026-01-05T10:00:00+00:00", TS_MS),
        ("2026-01-05T12:00:00+02:00", TS_MS),
        ("2026-01-05T04:30:00-05:30", TS_MS),
    ],
)
def test_iso_timestamps_with_zone_decode_to_utc_epoch_ms(text: str, expected: int) -> None:
    assert parse_ts(text) == expected
    assert decode_event(wire(ts=text)).ts_ms == expected


def test_epoch_ms_timestamp_is_taken_as_is() -> None:
    assert decode_event(wire(ts=TS_MS + 7)).ts_ms == TS_MS + 7


def test_naive_iso_timestamp_is_rejected_for_missing_zone() -> None:
    with pytest.raises(EventError, match="time zone"):
        decode_event(wire(ts="2026-01-05T10:00:00"))


@pytest.mark.parametrize("ts", [1_767_607_200, "not a time", "", 5_000_000_000_000_000])
def test_seconds_garbage_and_far_future_timestamps_are_rejected(ts: int | str) -> None:
    with pytest.raises(EventError, match="`ts`"):
        decode_event(wire(ts=ts))


def test_timestamp_of_wrong_json_type_is_rejected() -> None:
    for ts in ([TS_MS], 1.5, True, None):
        with pytest.raises(EventError, match=r"\$\.ts"):
            decode_event(wire(ts=ts))


# -- identity --------------------------------------------------------------------


def test_event_without_contact_id_and_anonymous_id_is_rejected() -> None:
    with pytest.raises(EventError, match="neither `contact_id` nor `anonymous_id`"):
        decode_event(wire(contact_id=_DROP))


def test_anonymous_id_only_gives_anon_key() -> None:
    event = decode_event(wire(contact_id=_DROP, anonymous_id="a-77"))
    assert event.key == "anon:a-77"
    assert event.contact_id is None
    assert event.anonymous_id == "a-77"


def test_contact_id_wins_over_anonymous_id_for_key() -> None:
    event = decode_event(wire(contact_id="c9", anonymous_id="a-77"))
    assert event.key == "c9"
    assert event.anonymous_id == "a-77"


def test_numeric_contact_id_becomes_text_key() -> None:
    assert decode_event(wire(contact_id=42)).key == "42"


def test_empty_contact_id_is_rejected() -> None:
    with pytest.raises(EventError, match="contact_id"):
        decode_event(wire(contact_id=""))


# -- event ids -------------------------------------------------------------------


def test_given_event_id_is_kept() -> None:
    assert decode_event(wire(event_id="e-1")).event_id == "e-1"


def test_derived_event_id_is_present_and_stable_when_absent() -> None:
    raw = wire(props={"product_id": "p1", "price": 9.5})
    first, second = decode_event(raw), decode_event(raw)
    assert first.event_id
    assert first.event_id == second.event_id
    # Same content with keys in another order is the same event.
    reordered = orjson.dumps(
        {"props": {"price": 9.5, "product_id": "p1"}, "contact_id": "c1", "ts": TS_MS,
         "type": "page_view"}
    )  # fmt: skip
    assert decode_event(reordered).event_id == first.event_id


def test_derived_event_id_differs_for_different_content() -> None:
    base = decode_event(wire()).event_id
    assert decode_event(wire(ts=TS_MS + 1)).event_id != base
    assert decode_event(wire(contact_id="c2")).event_id != base
    assert decode_event(wire(type="search")).event_id != base
    assert decode_event(wire(props={"path": "/"})).event_id != base


# -- types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vendor", "canonical"),
    [
        ("Product Added", "add_to_cart"),
        ("Order Completed", "purchase"),
        ("Page Viewed", "page_view"),
        ("view_item", "product_view"),
        ("begin_checkout", "checkout_started"),
        ("sign_up", "signup"),
    ],
)
def test_segment_and_ga4_names_are_mapped_to_canonical_types(vendor: str, canonical: str) -> None:
    assert decode_event(wire(type=vendor)).type == canonical


def test_unknown_event_type_is_rejected_by_default() -> None:
    with pytest.raises(EventError, match="unknown event type `trial_started`"):
        decode_event(wire(type="trial_started"))


def test_unknown_event_type_is_accepted_when_declared_in_extra_types() -> None:
    decoder = EventDecoder(extra_types=frozenset({"trial_started"}))
    assert decoder.decode(wire(type="trial_started")).type == "trial_started"
    with pytest.raises(EventError, match="unknown event type"):
        decoder.decode(wire(type="trial_ended"))


# -- props -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "field"),
    [
        ({"price": "19.90"}, "props.price"),
        ({"price": True}, "props.price"),
        ({"quantity": [1]}, "props.quantity"),
        ({"cart_value": {"v": 1}}, "props.cart_value"),
        ({"revenue": "10"}, "props.revenue"),
        ({"product_id": 1.5}, "props.product_id"),
        ({"order_id": ["o1"]}, "props.order_id"),
    ],
)
def test_props_of_wrong_type_are_rejected_naming_the_field(
    props: dict[str, Any], field: str
) -> None:
    with pytest.raises(EventError, match=f"`{field}`"):
        decode_event(wire(props=props))


def test_props_of_right_types_are_kept() -> None:
    props = {"price": 19.9, "quantity": 2, "product_id": 7, "order_id": "o1", "x": [1, None]}
    assert decode_event(wire(props=props)).props == props


def test_props_that_are_not_an_object_are_rejected() -> None:
    with pytest.raises(EventError, match=r"\$\.props"):
        decode_event(wire(props=[1, 2]))


def test_integer_beyond_64_bits_in_props_without_event_id_does_not_crash_decoder() -> None:
    # With no event_id the decoder derives one by hashing the props.
    raw = b'{"type":"page_view","ts":1767607200000,"contact_id":"c1","props":{"n":' + (
        b"1" * 30 + b"}}"
    )
    try:
        event = decode_event(raw)
    except EventError:
        return
    assert event.event_id


# -- size and shape -----------------------------------------------------------------


def test_oversized_event_is_rejected_before_decoding() -> None:
    raw = wire(props={"x": "a" * MAX_LINE_BYTES})
    with pytest.raises(EventError, match=f"over the {MAX_LINE_BYTES} byte limit"):
        decode_event(raw)


def test_max_bytes_limit_is_configurable() -> None:
    raw = wire()
    assert EventDecoder(max_bytes=len(raw)).decode(raw).type == "page_view"
    with pytest.raises(EventError, match="byte limit"):
        EventDecoder(max_bytes=len(raw) - 1).decode(raw)


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"type":"page_view"}'])
def test_malformed_or_incomplete_json_is_rejected(raw: bytes) -> None:
    with pytest.raises(EventError):
        decode_event(raw)


# -- hostile input -----------------------------------------------------------------


@pytest.mark.parametrize("line", HOSTILE, ids=[f"{h.category}-{n}" for n, h in enumerate(HOSTILE)])
def test_hostile_line_is_an_event_error_with_its_reason(line: Hostile) -> None:
    with pytest.raises(EventError) as caught:
        decode_event(line.raw)
    assert line.reason.lower() in str(caught.value).lower()
    assert len(str(caught.value)) < 300  # a hostile value never floods the reason


SMALL_STACK_DECODE = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from hostile import HOSTILE
from pulse.errors import EventError
from pulse.events import decode_event

def run() -> None:
    for line in HOSTILE:
        try:
            decode_event(line.raw)
        except EventError:
            pass
    print("ok")

threading.stack_size(128 * 1024)  # musl's default
thread = threading.Thread(target=run)
thread.start()
thread.join()
"""


def test_deep_nesting_is_refused_before_decoding_even_on_a_small_thread_stack() -> None:
    # msgspec recursing 1,000 levels deep crashed a thread with a 256 KiB stack.
    # The hostile lines include long and short ones, deep in props and elsewhere.
    done = subprocess.run(
        [sys.executable, "-c", SMALL_STACK_DECODE, str(Path(__file__).parent)],
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == b"ok\n"


@pytest.mark.parametrize(
    "raw",
    [b'{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
     b'{"a":"\\"' + b"[" * 40 + b'"}'],
)  # fmt: skip
def test_brackets_inside_strings_do_not_count_as_nesting(raw: bytes) -> None:
    with pytest.raises(EventError) as caught:
        decode_event(raw)
    assert "nested" not in str(caught.value)


def test_invalid_utf8_reason_names_the_byte_offset() -> None:
    raw = b'{"type":"page_view","ts":1767607200000,"contact_id":"c\xff1"}'
    assert raw.index(b"\xff") == 54
    with pytest.raises(EventError, match=r"invalid UTF-8 `b'\\xff'` \(byte 54\)"):
        decode_event(raw)


def test_props_nested_exactly_the_limit_deep_are_accepted() -> None:
    nested: dict[str, Any] = {"leaf": 1}
    for _ in range(MAX_PROPS_DEPTH - 1):
        nested = {"x": nested}
    assert decode_event(wire(props=nested)).props == nested
    with pytest.raises(EventError, match=f"nested more than {MAX_PROPS_DEPTH} deep"):
        decode_event(wire(props={"x": nested}))


@pytest.mark.parametrize(("name", "limits"), sorted(PROP_LIMITS.items()))
def test_numeric_props_at_their_limits_are_accepted_and_beyond_are_rejected(
    name: str, limits: tuple[float, float]
) -> None:
    low, high = limits
    for value in (low, high, (low + high) / 2):
        assert decode_event(wire(props={name: value})).props[name] == value
    for value in (high * 1.5 + 1, low - abs(low) * 0.5 - 1):
        with pytest.raises(EventError, match=f"`props.{name}`: .* is outside"):
            decode_event(wire(props={name: value}))


def test_ids_of_the_limit_length_are_accepted() -> None:
    long = "x" * MAX_ID_CHARS
    event = decode_event(wire(event_id=long, contact_id=long, props={"product_id": long}))
    assert event.event_id == event.key == event.props["product_id"] == long


@pytest.mark.parametrize(
    "props",
    [{"a\x00": None}, {"a\x00": {}}, {"x": {"b\x00": [1]}}, {"x": [{"y": "z\x00"}]}],
)
def test_nul_in_any_props_key_or_text_is_rejected(props: dict[str, Any]) -> None:
    with pytest.raises(EventError, match="NUL"):
        decode_event(wire(props=props))


def test_null_known_props_are_accepted_as_absent() -> None:
    props = {"price": None, "product_id": None, "x": None}
    assert decode_event(wire(props=props)).props == props


def test_unknown_top_level_field_is_ignored_even_when_not_utf8() -> None:
    # msgspec skips fields the wire format does not name without reading them.
    raw = b'{"type":"page_view","ts":1767607200000,"contact_id":"c1","x":"\xff"}'
    assert decode_event(raw).key == "c1"


def test_escaped_surrogate_pairs_decode_and_lone_surrogates_are_rejected() -> None:
    raw = b'{"type":"page_view","ts":1767607200000,"contact_id":"\\ud83d\\ude00"}'
    assert decode_event(raw).key == "\U0001f600"
    with pytest.raises(EventError):
        decode_event(raw.replace(b"\\ude00", b"x"))


# -- properties ----------------------------------------------------------------------

FIELDS = ("event_id", "type", "ts", "contact_id", "anonymous_id", "props")
PROP_NAMES = ("price", "quantity", "cart_value", "revenue", "product_id", "order_id", "channel")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    # Integers at and past the 64-bit edges, which a generator seldom draws on its own.
    | st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
field_values = (
    json_values
    | st.sampled_from(["page_view", "Product Added", "view_item", "purchase", "nope"])
    | st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999)
    | st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat())
    | st.dictionaries(st.sampled_from(PROP_NAMES) | st.text(max_size=8), json_values, max_size=5)
)
wire_objects = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=len(FIELDS))
props_objects = st.dictionaries(st.sampled_from(PROP_NAMES) | st.text(max_size=8), json_values)
# Mostly-valid events: real types, times and ids, so decoding gets past the envelope checks.
plausible_objects = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["page_view", "add_to_cart", "Product Added", "view_item"]),
        "ts": st.integers(min_value=946_684_800_000, max_value=4_102_444_799_999)
        | st.just("2026-01-05T10:00:00Z"),
    },
    optional={
        "event_id": st.none() | st.text(max_size=8),
        "contact_id": st.none() | st.text(max_size=8) | st.integers(),
        "anonymous_id": st.none() | st.text(max_size=8) | st.integers(),
        "props": props_objects,
    },
)

PROPERTY = settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def _dumps(value: Any) -> bytes:
    """JSON text of `value`, integers of any size included (orjson stops at 64 bits)."""
    return json.dumps(value).encode()


_CONDITION = compile_condition(
    "has(props.price) && props.price > 1.0 || size(props) > 3 || props.x == 'a'"
)


def _decode_or_event_error(raw: bytes) -> None:
    try:
        event = EventDecoder(extra_types=frozenset({"nope"})).decode(raw)
    except EventError:
        return
    assert isinstance(event, Event)
    _assert_safe_downstream(event)


def _assert_safe_downstream(event: Event) -> None:
    """What the journey, CEL and the encoders rely on holds for every decoded event."""
    for name in (event.event_id, event.key, event.contact_id, event.anonymous_id):
        assert name is None or 0 < len(name) <= MAX_ID_CHARS + len("anon:")
    for name, (low, high) in PROP_LIMITS.items():
        value = event.props.get(name)
        if value is not None:
            assert math.isfinite(float(value)) and low <= value <= high
    orjson.dumps(event.props)  # dead letters and derived ids encode props with orjson
    msgspec.json.encode(event)  # a stale event's dead letter re-encodes the whole event
    _CONDITION.evaluate({"type": event.type, "ts": event.ts_ms, "props": event.props})


@PROPERTY
@given(st.binary(max_size=300))
def test_decoding_arbitrary_bytes_gives_event_or_event_error(raw: bytes) -> None:
    _decode_or_event_error(raw)


@PROPERTY
@given(json_values)
def test_decoding_arbitrary_json_gives_event_or_event_error(value: Any) -> None:
    _decode_or_event_error(_dumps(value))


@PROPERTY
@given(wire_objects)
def test_decoding_objects_with_real_field_names_gives_event_or_event_error(
    value: dict[str, Any],
) -> None:
    _decode_or_event_error(_dumps(value))


@PROPERTY
@given(plausible_objects)
def test_decoding_plausible_events_with_random_props_gives_event_or_event_error(
    value: dict[str, Any],
) -> None:
    _decode_or_event_error(_dumps(value))


# Text-level hostility the JSON encoder would never produce: literals that are not
# JSON, numbers past a double or 64 bits, nesting past any limit, raw bytes.
hostile_tokens = st.sampled_from(
    [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1" + b"0" * 400, b"1e200",
     b"18446744073709551616", b'"\\u0000"', b'"\xff\xfe"', b'"\xc3"', b'"\\ud800"',
     b"[" * 3000 + b"]" * 3000, b'{"a":' * 100 + b"1" + b"}" * 100, b"\x00", b"true"]
)  # fmt: skip
prop_names = st.sampled_from([*PROP_NAMES, "x", "nested"])


@st.composite
def spliced_events(draw: st.DrawFn) -> bytes:
    """A plausible event whose props carry hostile tokens where values belong."""
    tokens = draw(st.lists(st.tuples(prop_names, hostile_tokens), min_size=1, max_size=4))
    body = b",".join(b'"' + name.encode() + b'":' + token for name, token in tokens)
    where = draw(st.sampled_from(["props", "contact_id", "event_id", "ts"]))
    head = b'{"type":"add_to_cart","ts":1767607200000,"contact_id":"c1"'
    if where == "props":
        return head + b',"props":{' + body + b"}}"
    return head.replace(b'"' + where.encode() + b'":', b'"_":') + (
        b',"' + where.encode() + b'":' + tokens[0][1] + b"}"
    )


@PROPERTY
@given(spliced_events())
def test_decoding_events_with_hostile_tokens_gives_event_or_event_error(raw: bytes) -> None:
    _decode_or_event_error(raw)


@PROPERTY
@given(plausible_objects, st.binary(min_size=1, max_size=8), st.integers(min_value=0))
def test_decoding_events_with_bytes_spliced_in_gives_event_or_event_error(
    value: dict[str, Any], noise: bytes, at: int
) -> None:
    raw = _dumps(value)
    cut = at % (len(raw) + 1)
    _decode_or_event_error(raw[:cut] + noise + raw[cut:])


deep_values = st.recursive(
    scalars | st.floats(),  # NaN and infinities included: json.dumps writes them as literals
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=80,
)


@PROPERTY
@given(deep_values, st.integers(min_value=0, max_value=60))
def test_decoding_deep_props_with_any_numbers_gives_event_or_event_error(
    value: Any, depth: int
) -> None:
    for _ in range(depth):
        value = {"x": value}
    _decode_or_event_error(_dumps({"type": "add_to_cart", "ts": TS_MS, "contact_id": "c1",
                                   "props": {"price": value, "nested": value}}))  # fmt: skip
