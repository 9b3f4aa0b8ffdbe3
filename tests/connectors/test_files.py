"""The JSON Lines file source on its own: gzip input, resumption, disorder, `--sort`."""

from __future__ import annotations

import gzip
import logging
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from pulse.batch import SourceBatch
from pulse.connectors.files import FILES_PARTITION, JsonlSource
from pulse.connectors.sort import sort_by_event_time
from pulse.errors import ConnectorError
from pulse.events import EventDecoder

T0 = 1_767_607_200_000  # 2026-01-05T10:00:00Z
LATENESS_MS = 60_000


def line(n: int, contact: str, ts_ms: int) -> bytes:
    body = {"event_id": f"e{n}", "type": "page_view", "ts": ts_ms, "contact_id": contact}
    return orjson.dumps(body) + b"\n"


def in_time_order(count: int = 300, contacts: int = 10) -> list[bytes]:
    """Events a minute apart, contacts taking turns: the order a site produces them."""
    return [line(n, f"c{n % contacts}", T0 + n * 60_000) for n in range(count)]


def source(*paths: Path, batch_size: int = 50) -> JsonlSource:
    return JsonlSource([str(p) for p in paths], EventDecoder(), LATENESS_MS, batch_size=batch_size)


def read_all(src: JsonlSource, resume: object = None) -> list[SourceBatch]:
    part = src.build_part("read_events", FILES_PARTITION, resume)
    batches: list[SourceBatch] = []
    try:
        while True:
            batches += part.next_batch()
    except StopIteration:
        pass
    finally:
        part.close()
    return batches


def event_ids(batches: list[SourceBatch]) -> list[str]:
    return [event.event_id for batch in batches for event in batch.events]


# -- gzip ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["events.jsonl.gz", "events.jsonl"])
def test_gzip_input_is_read_like_plain_input_whatever_its_name(tmp_path: Path, name: str) -> None:
    lines = in_time_order()
    plain = tmp_path / "plain.jsonl"
    plain.write_bytes(b"".join(lines))
    packed = tmp_path / name
    packed.write_bytes(gzip.compress(b"".join(lines)))

    expected = read_all(source(plain))
    got = read_all(source(packed))
    assert event_ids(got) == event_ids(expected) == [f"e{n}" for n in range(len(lines))]
    assert not any(batch.rejected for batch in got)


def test_gzip_input_resumes_at_its_decompressed_byte_offset(tmp_path: Path) -> None:
    lines = in_time_order()
    packed = tmp_path / "events.jsonl.gz"
    packed.write_bytes(gzip.compress(b"".join(lines)))
    src = source(packed)

    part = src.build_part("read_events", FILES_PARTITION, None)
    first = part.next_batch() + part.next_batch()
    snapshot = part.snapshot()
    part.close()
    assert snapshot.offset == sum(len(x) for x in lines[:100])  # type: ignore[attr-defined]

    rest = read_all(src, snapshot)
    assert event_ids(first) + event_ids(rest) == [f"e{n}" for n in range(len(lines))]


def test_truncated_gzip_input_keeps_its_events_and_dead_letters_the_rest(tmp_path: Path) -> None:
    lines = in_time_order()
    data = gzip.compress(b"".join(lines))
    packed = tmp_path / "cut.jsonl.gz"
    packed.write_bytes(data[: len(data) // 2])
    after = tmp_path / "after.jsonl"
    after.write_bytes(line(999, "c1", T0 + 10**9))

    batches = read_all(source(packed, after))
    ids = event_ids(batches)
    assert ids[-1] == "e999"  # the next file is read
    assert ids[:-1] == [f"e{n}" for n in range(len(ids) - 1)]  # a prefix, in order
    (letter,) = [r for batch in batches for r in batch.rejected]
    assert "corrupt or truncated" in letter.reason
    assert "the rest of the file is unread" in letter.reason
    assert letter.source.startswith(f"{packed}:")


def test_gzip_that_is_not_gzip_past_its_magic_is_a_dead_letter(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_bytes(b"\x1f\x8b" + b"not really gzip\n" * 10)
    batches = read_all(source(bogus))
    assert event_ids(batches) == []
    assert ["gzip" in r.reason for b in batches for r in b.rejected] == [True]


# -- disorder --------------------------------------------------------------------


def by_contact(lines: list[bytes]) -> list[bytes]:
    return sorted(lines, key=lambda raw: orjson.loads(raw)["contact_id"])


def test_input_sorted_by_contact_is_reported_once_with_how_to_sort(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "by-contact.jsonl"
    path.write_bytes(b"".join(by_contact(in_time_order())))
    with caplog.at_level(logging.WARNING, logger="pulse.input"):
        read_all(source(path))
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "pulse.input"]
    assert "not in event-time order" in warning
    assert "pulse replay --sort" in warning


def test_input_in_time_order_is_not_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ordered.jsonl"
    # A little disorder within the allowed lateness is normal and not reported.
    lines = in_time_order()
    for n in range(0, len(lines) - 1, 2):
        lines[n], lines[n + 1] = lines[n + 1], lines[n]
    path.write_bytes(b"".join(lines))
    with caplog.at_level(logging.WARNING, logger="pulse.input"):
        read_all(source(path))
    assert [r for r in caplog.records if r.name == "pulse.input"] == []


# -- sort --------------------------------------------------------------------------


def test_sort_by_event_time_is_stable_and_puts_unreadable_lines_first(tmp_path: Path) -> None:
    first = tmp_path / "a.jsonl.gz"
    first.write_bytes(gzip.compress(line(1, "c1", T0 + 2000) + b"not json\n" + line(2, "c2", T0)))
    second = tmp_path / "b.jsonl"
    second.write_bytes(line(3, "c3", T0 + 1000) + b"\n" + line(4, "c4", T0) + b'{"ts":"x"}')
    out = tmp_path / "out" / "sorted.jsonl"

    assert sort_by_event_time([str(first), str(second)], out) == 6
    ordered = out.read_bytes().splitlines()
    assert ordered[:2] == [b"not json", b'{"ts":"x"}']
    assert [orjson.loads(x)["event_id"] for x in ordered[2:]] == ["e2", "e4", "e3", "e1"]


def test_sort_by_event_time_turns_disorder_into_order(tmp_path: Path) -> None:
    lines = in_time_order()
    messy = tmp_path / "messy.jsonl"
    messy.write_bytes(b"".join(by_contact(lines)))
    out = tmp_path / "sorted.jsonl"
    sort_by_event_time([str(messy)], out)
    assert out.read_bytes() == b"".join(lines)


def test_sort_refuses_input_over_its_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(in_time_order(50)))
    with pytest.raises(ConnectorError, match="more than `--sort` sorts in memory"):
        sort_by_event_time([str(path)], tmp_path / "out.jsonl", max_bytes=1000)


# -- standard input ----------------------------------------------------------------

READ_STDIN = """
import sys
from pulse.connectors.files import STDIN, STDIN_PARTITION, JsonlSource
from pulse.events import EventDecoder

part = JsonlSource([STDIN], EventDecoder(), 60_000, batch_size=50).build_part(
    "read_events", STDIN_PARTITION, None
)
while True:
    try:
        for batch in part.next_batch():
            for event in batch.events:
                print(event.event_id)
            for letter in batch.rejected:
                print("rejected:", letter.reason)
    except StopIteration:
        break
"""


def read_stdin(data: bytes) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", READ_STDIN], input=data, capture_output=True, check=True, timeout=60
    )
    return done.stdout.decode().splitlines()


def test_gzip_on_standard_input_is_decompressed() -> None:
    lines = in_time_order(120)
    assert read_stdin(gzip.compress(b"".join(lines))) == [f"e{n}" for n in range(120)]


def test_truncated_gzip_on_standard_input_is_a_dead_letter() -> None:
    data = gzip.compress(b"".join(in_time_order(120)))
    out = read_stdin(data[: len(data) // 2])
    assert out[-1].startswith("rejected: standard input is corrupt or truncated gzip")
    assert out[:-1] == [f"e{n}" for n in range(len(out) - 1)]
