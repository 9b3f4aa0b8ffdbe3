"""Input formats: vendor payloads read as pulse events, without a converter.

    auto      each line: pulse's own JSON first, else whichever vendor layout it is
    pulse     pulse's own JSON only (README, Event format)
    segment   Segment / RudderStack spec envelopes (`segment.py`)
    ga4       GA4 Measurement Protocol bodies and BigQuery export rows (`ga4.py`)
    snowplow  Snowplow enriched events, TSV or JSON layout (`snowplow.py`), or a
              warehouse export as CSV with a header row

`line_decoder` gives the decoder a source uses. With `pulse`, it is the plain
`EventDecoder`: nothing changes. Otherwise it is a `FormatDecoder`, an `EventDecoder`
whose `decode` is still pulse's fast path and whose `decode_vendor` reads the rest;
`pulse.connectors.files.BatchBuilder` calls `decode_vendor` only when the format is not
`auto` or when pulse's decoder refused the line, so pulse's own events cost the same
under `auto`. Detection (`detect`) looks at the line's first byte (a TSV line is not
JSON) and at the top-level keys of the object, never at its values' depth.

A Snowplow warehouse export in CSV (the atomic-events table with its context
columns, e.g. dbt-snowplow's seeds) starts with a header row: `FormatDecoder` takes
the columns from it (`note_header`; the file source also hands it the first line of
a file it resumes mid-way, so a restart still knows them) and reads each following
row with the `csv` module as a JSON-layout object. The header itself is no event and
no dead letter: the file source logs it once.

A vendor line may give several events (a Measurement Protocol body with several
events, a cart change with several items); a malformed one is one dead letter whose
reason names the vendor field, e.g. ``Expected a number, got `"abc"` - at
`properties.price```.
"""

from __future__ import annotations

import csv
import logging
from typing import Any, Literal, get_args

import orjson

from pulse.connectors.formats.ga4 import decode_bigquery, decode_measurement_protocol
from pulse.connectors.formats.segment import CALLS, decode_segment
from pulse.connectors.formats.snowplow import decode_snowplow_json, decode_snowplow_tsv
from pulse.errors import EventError
from pulse.events import MAX_LINE_BYTES, Event, EventDecoder

__all__ = [
    "FORMATS",
    "FormatDecoder",
    "InputFormat",
    "detect",
    "is_snowplow_csv_header",
    "line_decoder",
]

log = logging.getLogger(__name__)

InputFormat = Literal["auto", "pulse", "segment", "ga4", "snowplow"]
FORMATS: tuple[str, ...] = get_args(InputFormat)
"""The values of `--format` (`input_format` in the settings)."""

_Layout = Literal["segment", "ga4_mp", "ga4_bigquery", "snowplow_json"]


def detect(obj: dict[str, Any]) -> _Layout | None:
    """Which vendor layout a JSON object is, from its top-level keys; `None`: none of them.

    >>> detect({"type": "track", "event": "Product Added", "userId": "u1"})
    'segment'
    >>> detect({"client_id": "1.2", "events": []})
    'ga4_mp'
    >>> detect({"event_name": "x", "event_timestamp": 1})
    'ga4_bigquery'
    >>> detect({"type": "page_view", "ts": 1, "contact_id": "c1"}) is None
    True
    """
    if "events" in obj and ("client_id" in obj or "app_instance_id" in obj):
        return "ga4_mp"
    if "event_name" in obj and ("event_timestamp" in obj or "user_pseudo_id" in obj):
        return "ga4_bigquery"
    if "collector_tstamp" in obj or "domain_userid" in obj:
        return "snowplow_json"
    call = obj.get("type", obj.get("action"))
    if call in CALLS and "ts" not in obj:
        return "segment"
    return None


def is_tsv(raw: bytes) -> bool:
    """Whether a line is a TSV record rather than JSON.

    >>> is_tsv(b"app\\tweb\\t"), is_tsv(b'{"a": "\\t"}')
    (True, False)
    """
    return raw[:1] != b"{" and b"\t" in raw


_CSV_HEADER_COLUMNS = (b"event_id", b"collector_tstamp")
"""Columns every Snowplow atomic-events export has."""


def is_snowplow_csv_header(raw: bytes) -> bool:
    """Whether a line is the header row of a Snowplow warehouse export in CSV.

    >>> is_snowplow_csv_header(b"app_id,platform,collector_tstamp,event,event_id\\r\\n")
    True
    >>> is_snowplow_csv_header(b'{"event_id": "e1", "collector_tstamp": "x"}')
    False
    """
    return (
        raw[:1] not in (b"{", b"[")
        and b"\t" not in raw
        and b"," in raw
        and all(column in raw for column in _CSV_HEADER_COLUMNS)
    )


class FormatDecoder(EventDecoder):
    """pulse's decoder plus the vendor layouts of `input_format` (`auto`: all of them)."""

    def __init__(
        self,
        input_format: InputFormat,
        extra_types: frozenset[str] = frozenset(),
        max_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        super().__init__(extra_types, max_bytes)
        self.input_format = input_format
        self.is_pulse_first = input_format == "auto"
        """Whether sources try pulse's own decoder (`decode`) before `decode_vendor`."""
        self.csv_columns: list[str] | None = None
        """The columns of the Snowplow CSV export being read (from its header row)."""

    def note_header(self, raw: bytes) -> bool:
        """Take `raw` as a CSV header row if it is one (Snowplow only); whether it was."""
        if self.input_format not in ("auto", "snowplow") or not is_snowplow_csv_header(raw):
            return False
        (columns,) = csv.reader([raw.decode("utf-8", errors="replace")])
        self.csv_columns = [column.strip() for column in columns]
        return True

    def _csv_row(self, raw: bytes) -> dict[str, Any]:
        """A CSV data row as the JSON-layout object its header describes."""
        assert self.csv_columns is not None
        try:
            (row,) = csv.reader([raw.decode("utf-8")])
        except (UnicodeDecodeError, csv.Error, ValueError) as exc:
            raise EventError(f"Snowplow CSV row is malformed: {exc}") from None
        if len(row) != len(self.csv_columns):
            raise EventError(
                f"Snowplow CSV row has {len(row)} fields, the header {len(self.csv_columns)}"
            )
        pairs = zip(self.csv_columns, row, strict=True)
        return {name: value for name, value in pairs if value != ""}

    def decode_vendor(self, raw: bytes, pulse_error: EventError | None = None) -> list[Event]:
        """The events of one vendor line, or `EventError` naming what is wrong.

        `pulse_error` is why pulse's own decoder refused the line (with `auto`); it is
        the reason given when the line is no vendor layout either.
        """
        chosen = self.input_format
        if chosen in ("auto", "snowplow") and raw[:1] != b"{" and not is_tsv(raw):
            if self.note_header(raw):
                return []  # a header row: no event (the file source says it once)
            if self.csv_columns is not None:
                self.precheck(raw)
                try:
                    return decode_snowplow_json(self._csv_row(raw), self)
                except EventError as exc:
                    raise _named(exc, "Snowplow CSV") from None
        if pulse_error is not None and raw[:1] != b"{" and not is_tsv(raw):
            raise pulse_error  # neither an object nor a TSV record: pulse's reason stands
        self.precheck(raw)
        if (chosen == "snowplow" or (chosen == "auto" and is_tsv(raw))) and raw[:1] != b"{":
            try:
                return decode_snowplow_tsv(raw, self)
            except EventError as exc:
                raise _named(exc, "Snowplow TSV") from None
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if pulse_error is not None:
                raise pulse_error from None
            raise EventError(f"JSON is malformed: {exc}") from None
        if not isinstance(obj, dict):
            if pulse_error is not None:
                raise pulse_error from None
            raise EventError(f"Expected an object, got `{type(obj).__name__}`")
        layout = detect(obj)
        match chosen:
            case "auto":
                if layout is None:
                    raise pulse_error or EventError(
                        "not a pulse, Segment, GA4 or Snowplow event (see README, Input formats)"
                    )
            case "segment":
                layout = "segment"
            case "ga4":
                if layout != "ga4_bigquery":
                    layout = "ga4_mp"
            case _:
                layout = "snowplow_json"
        try:
            match layout:
                case "segment":
                    return decode_segment(obj, self)
                case "ga4_mp":
                    return decode_measurement_protocol(obj, raw, self)
                case "ga4_bigquery":
                    return decode_bigquery(obj, raw, self)
                case _:
                    return decode_snowplow_json(obj, self)
        except EventError as exc:
            raise _named(exc, _NAMES[layout]) from None


def _named(exc: EventError, vendor: str) -> EventError:
    """The error with the vendor's name in front (once).

    >>> str(_named(EventError("`userId`: bad"), "Segment"))
    'Segment: `userId`: bad'
    """
    text = str(exc)
    return exc if text.startswith(vendor.split()[0]) else EventError(f"{vendor}: {text}")


_NAMES: dict[str, str] = {
    "segment": "Segment",
    "ga4_mp": "GA4 Measurement Protocol",
    "ga4_bigquery": "GA4 BigQuery row",
    "snowplow_json": "Snowplow",
}


def line_decoder(input_format: str, extra_types: frozenset[str] = frozenset()) -> EventDecoder:
    """The decoder a source uses for `input_format` (one of `FORMATS`)."""
    if input_format not in FORMATS:
        raise ValueError(f"unknown input format `{input_format}`; expected one of {FORMATS}")
    if input_format == "pulse":
        return EventDecoder(extra_types)
    return FormatDecoder(input_format, extra_types)  # type: ignore[arg-type]  # checked above
