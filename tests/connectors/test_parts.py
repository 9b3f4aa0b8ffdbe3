"""Sources split over worker processes (`--workers`): each part keeps its contacts' events."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from pulse.batch import SourceBatch
from pulse.config import GeneratorConfig, Part
from pulse.connectors.files import JsonlSource
from pulse.connectors.generated import GeneratedSource
from pulse.events import EventDecoder
from pulse.identity import part_takes

T0 = 1_767_607_200_000  # 2026-01-05T10:00:00Z
LATENESS_MS = 60_000


def write_events(path: Path) -> None:
    """Events a minute apart over 40 contacts, some out of order, some late, two bad lines."""
    lines = []
    for n in range(400):
        ts = T0 + n * 60_000 - (150_000 if n % 7 == 0 else 0)  # every 7th arrives behind
        body = {"event_id": f"e{n}", "type": "page_view", "ts": ts, "contact_id": f"c{n % 40}"}
        lines.append(orjson.dumps(body))
    lines[100] = b"not json"
    lines[250] = b'{"type": "page_view"}'
    path.write_bytes(b"\n".join(lines) + b"\n")


def read_all(source: JsonlSource | GeneratedSource) -> list[SourceBatch]:
    (name,) = source.list_parts()
    partition = source.build_part("read_events", name, None)
    batches: list[SourceBatch] = []
    try:
        while True:
            batches += partition.next_batch()
    except StopIteration:
        pass
    finally:
        partition.close()
    return batches


def released(batches: list[SourceBatch]) -> list[tuple[str, str, int]]:
    """(event id, stream, offset) of every released event, in release order."""
    return [
        (event.event_id, batch.streams[i], batch.offsets[i])
        for batch in batches
        for i, event in enumerate(batch.events)
    ]


def files(path: Path, part: Part | None) -> JsonlSource:
    return JsonlSource([str(path)], EventDecoder(), LATENESS_MS, batch_size=50, part=part)


def test_parts_of_a_file_keep_disjoint_contacts_that_together_are_the_whole_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path)
    whole = read_all(files(path, None))
    parts = [read_all(files(path, Part(i, 2))) for i in range(2)]

    ids = [{event_id for event_id, _, _ in released(batches)} for batches in parts]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    assert ids[0] | ids[1] == {event_id for event_id, _, _ in released(whole)}
    for index, batches in enumerate(parts):
        contacts = {event.key for batch in batches for event in batch.events}
        assert all(Part(index, 2).owns(key) for key in contacts)
        # Each part's events come in the order a single process releases them.
        order = [row[0] for row in released(whole) if row[0] in ids[index]]
        assert [row[0] for row in released(batches)] == order


def test_every_part_has_the_watermarks_and_late_events_of_one_process(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path)
    whole = read_all(files(path, None))
    late = {b.events[i].event_id for b in whole for i in b.late_at}
    assert late, "the file was meant to hold late events"
    for index in range(2):
        batches = read_all(files(path, Part(index, 2)))
        assert [b.watermark_ms for b in batches] == [b.watermark_ms for b in whole]
        assert [b.released_before_ms for b in batches] == [b.released_before_ms for b in whole]
        mine = {b.events[i].event_id for b in batches for i in b.late_at}
        assert mine == {e for e in late if e in {row[0] for row in released(batches)}}


def test_parts_name_their_partition_and_streams_and_only_part_0_keeps_dead_letters(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path)
    whole, first, second = (read_all(files(path, part)) for part in (None, Part(0, 2), Part(1, 2)))
    assert {b.partition for b in whole} == {"files"}
    assert {b.partition for b in first} == {"files/0-of-2"}
    assert {b.partition for b in second} == {"files/1-of-2"}
    (stream,) = whole[-1].read_to
    assert list(first[-1].read_to) == [stream + "@0-of-2"]
    assert list(second[-1].read_to) == [stream + "@1-of-2"]
    # Every part reads every line: each commits the position of the whole file.
    assert first[-1].read_to[stream + "@0-of-2"] == whole[-1].read_to[stream]
    rejected = [r.offset for b in whole for r in b.rejected]
    assert len(rejected) == 2
    assert [r.offset for b in first for r in b.rejected] == rejected
    assert [r.offset for b in second for r in b.rejected] == []


def test_parts_of_the_generator_split_its_stream_by_contact() -> None:
    config = GeneratorConfig(contacts=50, events=2_000, seed=5)
    whole = read_all(GeneratedSource(config, LATENESS_MS, batch_size=300))
    parts = [
        read_all(GeneratedSource(config, LATENESS_MS, batch_size=300, part=Part(i, 3)))
        for i in range(3)
    ]
    keyed = [{(e.event_id, e.key) for b in batches for e in b.events} for batches in parts]
    assert all(keyed)
    everything = [e for b in whole for e in b.events]
    assert set().union(*keyed) == {(e.event_id, e.key) for e in everything}
    # Each event is read by its contact's part; anonymous events and identifies across
    # parts also by the parts that may resolve or hand them over (`part_takes`).
    owned = [{(e.event_id, e.key) for e in everything if Part(i, 3).owns(e.key)} for i in range(3)]
    assert sum(len(k) for k in owned) == config.events
    assert any(len(k) > len(o) for k, o in zip(keyed, owned, strict=True)), "no anonymous event"
    for index, batches in enumerate(parts):
        part = Part(index, 3)
        taken = {
            (e.event_id, e.key)
            for e in everything
            if part_takes(part, e.type, e.key, e.contact_id, e.anonymous_id)
        }
        assert keyed[index] == taken
        assert owned[index] <= keyed[index]
        assert [b.watermark_ms for b in batches] == [b.watermark_ms for b in whole]
        assert {b.partition for b in batches} == {f"generator/{index}-of-3"}
    streams = {s for batches in parts for b in batches for s in b.read_to}
    assert len(streams) == 3


def test_a_contact_belongs_to_the_same_part_in_every_process() -> None:
    # Python's `hash` of a string changes per process; the split must not.
    keys = [f"c{n}" for n in range(50)] + ["anon:5f3a", "ü-contact"]
    script = (
        "import sys; from pulse.config import Part; "
        "print(''.join(str(int(Part(1, 3).owns(k))) for k in sys.argv[1:]))"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", script, *keys],
            check=True,
            capture_output=True,
            text=True,
            env={"PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    here = "".join(str(int(Part(1, 3).owns(k))) for k in keys)
    assert runs == {here + "\n"}
    assert "1" in here and "0" in here
