"""Snowplow warehouse exports in CSV: a header row, then one atomic event per row.

The sample is the header and 33 rows of dbt-snowplow-ecommerce's seed (real tracker
output; see tests/data/formats/PROVENANCE.md), read as it is, without a converter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.batch import SourceBatch
from pulse.connectors.files import FILES_PARTITION, JsonlSource
from pulse.connectors.formats import FormatDecoder, line_decoder
from pulse.errors import EventError

SAMPLE = Path(__file__).parents[2] / "data" / "formats" / "snowplow_ecommerce_events.sample.csv"
LATENESS_MS = 3_600_000


def read(src: JsonlSource, resume: object = None, batches: int | None = None) -> list[SourceBatch]:
    part = src.build_part("read_events", FILES_PARTITION, resume)
    out: list[SourceBatch] = []
    try:
        while batches is None or len(out) < batches:
            out += part.next_batch()
    except StopIteration:
        pass
    finally:
        if batches is not None:
            src.snapshot_taken = part.snapshot()  # type: ignore[attr-defined]
        part.close()
    return out


def source(input_format: str) -> JsonlSource:
    decoder = line_decoder(input_format)
    return JsonlSource([str(SAMPLE)], decoder, LATENESS_MS, batch_size=5)


@pytest.mark.parametrize("input_format", ["auto", "snowplow"])
def test_the_export_is_read_row_by_row_and_the_header_is_no_dead_letter(
    input_format: str,
) -> None:
    batches = read(source(input_format))
    events = [e for b in batches for e in b.events]
    rejected = [r for b in batches for r in b.rejected]
    rows = len(SAMPLE.read_bytes().splitlines()) - 1
    assert {e.type for e in events} >= {"product_view", "add_to_cart", "purchase"}
    # Every row of the sample has an action: each gives at least one event (a cart
    # change of several products one per product), and the header is no dead letter.
    assert rejected == []
    assert len(events) >= rows


def test_a_resumed_read_still_knows_the_columns_from_the_header() -> None:
    whole = read(source("snowplow"))
    src = source("snowplow")
    first = read(src, batches=2)
    rest = read(source("snowplow"), src.snapshot_taken)  # type: ignore[attr-defined]

    def ids(batches: list[SourceBatch]) -> list[str]:
        return [e.event_id for b in batches for e in b.events]

    assert sorted(ids(first) + ids(rest)) == sorted(ids(whole))
    rejected_after = [r for b in rest for r in b.rejected]
    assert all("fields, the header" not in r.reason for r in rejected_after)


def test_a_row_is_read_as_csv_only_once_a_header_gave_its_columns() -> None:
    header, row = SAMPLE.read_bytes().splitlines()[:2]
    decoder = FormatDecoder("snowplow")
    with pytest.raises(EventError):
        decoder.decode_vendor(row)  # no columns yet: not a TSV record nor JSON either
    assert decoder.decode_vendor(header) == []  # the header: no event, no dead letter
    events = decoder.decode_vendor(row)  # one per product of the row's action
    assert events and all(e.ts_ms > 0 and e.key for e in events)
