"""Small readers shared by the input formats: each names the vendor's field when it refuses.

A vendor payload is a plain JSON object; these functions pull one field out of it,
check its type, and raise `EventError` saying which field was wrong and what was
expected, in msgspec's voice: ``Expected a number, got `"abc"` - at `properties.price```.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pulse.errors import EventError
from pulse.events import parse_ts

__all__ = [
    "as_dict",
    "as_id",
    "as_list",
    "as_number",
    "first_ts",
    "line_id",
    "micros_ts",
    "snake",
    "ts_field",
]

_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake(name: str) -> str:
    """A vendor event name as a pulse type: lower snake case.

    >>> snake("Product Added to Wishlist"), snake("videoPlayed"), snake("add-to-basket")
    ('product_added_to_wishlist', 'video_played', 'add_to_basket')
    """
    return _NOT_WORD.sub("_", _WORD_BREAK.sub("_", name)).strip("_").lower()


def _shown(value: object) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 40 else text[:40] + "..."


def expected(what: str, value: object, where: str) -> EventError:
    """The error for a field of the wrong kind.

    >>> str(expected("a number", "abc", "properties.price"))
    'Expected a number, got `"abc"` - at `properties.price`'
    """
    return EventError(f"Expected {what}, got `{_shown(value)}` - at `{where}`")


def as_dict(value: object, where: str) -> dict[str, Any]:
    """An object field; absent (`None`) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise expected("an object", value, where)
    return value


def as_list(value: object, where: str) -> list[Any]:
    """An array field; absent (`None`) is an empty one."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise expected("an array", value, where)
    return value


def as_number(value: object, where: str) -> float | int | None:
    """A number, or text holding one (vendors send `"19.90"`); absent or empty is `None`.

    >>> as_number("19.90", "price"), as_number(3, "quantity"), as_number("", "x")
    (19.9, 3, None)
    """
    if value is None or value == "":
        return None
    if type(value) is int or type(value) is float:
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise expected("a number", value, where) from None
        if number == number and abs(number) != float("inf"):
            return number
    raise expected("a number", value, where)


def as_id(value: object, where: str) -> str | int | None:
    """An id field: text or a whole number; absent or empty is `None`."""
    if value is None or value == "":
        return None
    if isinstance(value, str) or (type(value) is int):
        return value
    raise expected("a string id", value, where)


def ts_field(value: object, where: str) -> int:
    """Event time from an ISO-8601 text (no zone: UTC, as vendors' exports write it) or
    epoch ms, in ms; the error names `where`.

    >>> ts_field("2022-12-22 13:25:47.677", "derived_tstamp")
    1671715547677
    """
    if isinstance(value, str):
        text = value.strip()
        if text and text[-1] != "Z" and "+" not in text[10:] and "-" not in text[10:]:
            text += "+00:00"  # Snowplow and BigQuery write UTC without a zone
        value = text
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise expected("an ISO-8601 time", value, where)
    try:
        return parse_ts(value)
    except EventError as exc:
        raise EventError(str(exc).replace("`ts`", f"`{where}`", 1)) from None


def micros_ts(value: object, where: str) -> int:
    """Event time from epoch microseconds (GA4: a number, or text in BigQuery's JSON), in ms.

    >>> micros_ts("1767607200000000", "event_timestamp")
    1767607200000
    """
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if type(value) is not int:
        raise expected("epoch microseconds", value, where)
    return ts_field(value // 1000, where)


def first_ts(obj: dict[str, Any], names: tuple[str, ...]) -> int:
    """Event time from the first of `names` present in `obj`."""
    for name in names:
        value = obj.get(name)
        if value is not None and value != "":
            return ts_field(value, name)
    raise EventError("no event time: expected one of " + ", ".join(f"`{n}`" for n in names))


def line_id(raw: bytes, vendor: str, index: int | None = None) -> str:
    """A stable event id for a vendor record that carries none: the same line, the same id.

    >>> line_id(b"x", "ga4") == line_id(b"x", "ga4"), line_id(b"x", "ga4", 2)[-2:]
    (True, ':2')
    """
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    return f"{vendor}:{digest}" + ("" if index is None else f":{index}")
