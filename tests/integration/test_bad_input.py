"""Bad input through the real flow: every bad line is a dead letter, every good event counts.

Also the input's form: hostile bytes of every kind (`tests/hostile.py`), gzip
files, and files not in event-time order (`--sort`).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
import redis

from hostile import HOSTILE
from pulse.cli import main
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.events import MAX_LINE_BYTES
from pulse.state import ContactStore, KeyLayout
from pulse.triggers import Trigger

Replay = Callable[..., list[Trigger]]

T0 = 1_767_607_200_000  # 2026-01-05T10:00:00Z
HUGE = (
    '{"type":"page_view","ts":1767607200000,"contact_id":"c1","props":{"x":"'
    + "a" * 10_000_000
    + '"}}'
)


def good(n: int, type_: str, contact: str, **props: Any) -> str:
    return orjson.dumps(
        {"event_id": f"e{n}", "type": type_, "ts": T0 + n * 1000, "contact_id": contact,
         "props": props}
    ).decode()  # fmt: skip


# (line text, substring of the dead-letter reason); None reason: a good event.
LINES: list[tuple[str, str | None]] = [
    (good(1, "page_view", "c1", path="/"), None),
    ('{"type":"page_view","ts":1767607201000,', "truncated"),
    (good(2, "add_to_cart", "c2", product_id="p1", price=10.0), None),
    ('{"type":"page_view","ts":[1767607200000],"contact_id":"c1"}', "$.ts"),
    (good(3, "product_view", "c1", product_id="p1", price="19.90"), "price"),
    ('{"event_id":"e4","type":"page_view","ts":1767607204000,"props":{}}', "neither"),
    ('{"type":"teleport","ts":1767607205000,"contact_id":"c1"}', "unknown event type"),
    (HUGE, "byte limit"),
    ("", None),
    (good(6, "Product Added", "c3", product_id="p2", price=5.0), None),
    ("not json at all", "malformed"),
    (good(7, "purchase", "c2", order_id="o1", revenue=10.0), None),
    (good(8, "page_view", "c4"), None),
]
GOOD_EVENTS = sum(1 for text, reason in LINES if reason is None and text)
BAD_LINES = {number: reason for number, (_, reason) in enumerate(LINES, 1) if reason}


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(text + "\n" for text, _ in LINES))
    return path


def dead_letters(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def counters(redis_url: str, prefix: str) -> dict[str, int]:
    client = redis.Redis.from_url(redis_url)
    try:
        stats, _ = ContactStore(client, KeyLayout(prefix)).counts()
    finally:
        client.close()
    return stats


def test_every_bad_line_is_a_dead_letter_with_reason_and_source(
    replay: Replay, mixed_file: Path, tmp_path: Path
) -> None:
    replay(mixed_file)
    letters = dead_letters(tmp_path / "dead_letters.jsonl")
    by_source = {letter["source"]: letter for letter in letters}
    assert len(letters) == len(BAD_LINES), [(x["source"], x["reason"]) for x in letters]
    assert set(by_source) == {f"{mixed_file}:{n}" for n in BAD_LINES}
    for number, reason in BAD_LINES.items():
        letter = by_source[f"{mixed_file}:{number}"]
        assert reason.lower() in letter["reason"].lower(), letter["reason"]
    # The oversized line is refused unread, its size stated, its raw text cut short.
    huge = by_source[f"{mixed_file}:{LINES.index((HUGE, 'byte limit')) + 1}"]
    assert f"over the {MAX_LINE_BYTES} byte limit" in huge["reason"]
    assert str(len(HUGE) + 1) in huge["reason"]
    assert len(huge["raw"]) < 100_000
    # A small bad line keeps its raw text whole.
    ts_list = by_source[f"{mixed_file}:4"]
    assert ts_list["raw"] == LINES[3][0]


def test_every_good_event_around_bad_lines_is_processed(
    replay: Replay, mixed_file: Path, redis_url: str, prefix: str
) -> None:
    triggers = replay(mixed_file)
    stats = counters(redis_url, prefix)
    assert stats["events"] == GOOD_EVENTS
    assert stats["rejected"] == len(BAD_LINES)
    client = redis.Redis.from_url(redis_url)
    try:
        store = ContactStore(client, KeyLayout(prefix))
        c1, c2, c3, c4 = (store.read_contact(c) for c in ("c1", "c2", "c3", "c4"))
    finally:
        client.close()
    assert c1 is not None and c1.last_ts == T0 + 1000
    assert c2 is not None and c2.purchases == 1 and not c2.cart
    assert c3 is not None and "p2" in c3.cart  # the Segment name was mapped to add_to_cart
    assert c4 is not None and c4.last_ts == T0 + 8000
    # Nothing from the bad lines leaked in: no contact was created for them.
    assert {t.contact_id for t in triggers} <= {"c1", "c2", "c3", "c4"}


def test_empty_file_runs_with_no_triggers_and_no_dead_letters(
    replay: Replay, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert replay(empty) == []
    assert dead_letters(tmp_path / "dead_letters.jsonl") == []
    assert counters(redis_url, prefix).get("events", 0) == 0


def test_pulse_replay_exits_0_on_a_file_with_bad_lines(
    mixed_file: Path, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    dead = tmp_path / "cli-dead.jsonl"
    status = main(
        ["replay", str(mixed_file), "--redis-url", redis_url, "--prefix", prefix,
         "--dead-letters", str(dead), "--max-rejected-share", "1"]
    )  # fmt: skip
    assert status == 0  # over half the lines are bad: exit 3 without `--max-rejected-share 1`
    assert {letter["source"] for letter in dead_letters(dead)} == {
        f"{mixed_file}:{n}" for n in BAD_LINES
    }
    assert counters(redis_url, prefix)["events"] == GOOD_EVENTS


def test_integer_beyond_64_bits_in_props_is_a_dead_letter_not_a_crash(
    replay: Replay, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    # No event_id: the decoder derives one by hashing the props.
    big = '{"type":"page_view","ts":1767607200000,"contact_id":"c1","props":{"n":' + "9" * 30 + "}}"
    events = tmp_path / "big.jsonl"
    events.write_text(big + "\n" + good(1, "page_view", "c2") + "\n")
    replay(events)
    letters = dead_letters(tmp_path / "dead_letters.jsonl")
    assert [letter["source"] for letter in letters] == [f"{events}:1"]
    assert counters(redis_url, prefix)["events"] == 1


# -- hostile bytes: every line a dead letter with its reason, never a crash ----------


@pytest.fixture
def hostile_file(tmp_path: Path) -> Path:
    """Every hostile line, each followed by a good event of its own contact."""
    path = tmp_path / "hostile.jsonl"
    with open(path, "wb") as out:
        for n, line in enumerate(HOSTILE):
            out.write(line.raw + b"\n")
            out.write(good(n, "page_view", f"g{n}").encode() + b"\n")
    return path


def test_every_hostile_line_is_a_dead_letter_with_its_reason_and_good_events_apply(
    replay: Replay, hostile_file: Path, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    replay(hostile_file)  # returns normally: nothing crashed
    letters = {x["source"]: x for x in dead_letters(tmp_path / "dead_letters.jsonl")}
    assert len(letters) == len(HOSTILE)
    for n, line in enumerate(HOSTILE):
        letter = letters[f"{hostile_file}:{2 * n + 1}"]
        assert line.reason.lower() in letter["reason"].lower(), (line.category, letter)
    stats = counters(redis_url, prefix)
    assert stats["events"] == len(HOSTILE)
    assert stats["rejected"] == len(HOSTILE)
    client = redis.Redis.from_url(redis_url)
    try:
        store = ContactStore(client, KeyLayout(prefix))
        assert all(store.read_contact(f"g{n}") is not None for n in range(len(HOSTILE)))
        assert store.read_contact("h1") is None  # no hostile line made it in
    finally:
        client.close()


def test_pulse_replay_of_hostile_lines_exits_0(
    hostile_file: Path, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    dead = tmp_path / "cli-dead.jsonl"
    status = main(
        ["replay", str(hostile_file), "--redis-url", redis_url, "--prefix", prefix,
         "--dead-letters", str(dead)]
    )  # fmt: skip
    assert status == 0
    assert len(dead_letters(dead)) == len(HOSTILE)


def test_add_to_cart_with_a_price_of_1e200_is_a_dead_letter_and_the_cart_stays_finite(
    replay: Replay, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    events = tmp_path / "price.jsonl"
    events.write_text(
        good(1, "add_to_cart", "c1", product_id="p1", price=1e200) + "\n"
        + good(2, "add_to_cart", "c1", product_id="p2", price=20.0, quantity=2) + "\n"
    )  # fmt: skip
    replay(events)
    (letter,) = dead_letters(tmp_path / "dead_letters.jsonl")
    assert "`props.price`" in letter["reason"] and "outside" in letter["reason"]
    client = redis.Redis.from_url(redis_url)
    try:
        c1 = ContactStore(client, KeyLayout(prefix)).read_contact("c1")
    finally:
        client.close()
    assert c1 is not None and c1.cart_value() == 40.0


# -- gzip input (#16) -------------------------------------------------------------------

GENERATED = GeneratorConfig(contacts=200, events=4000, span_days=30, seed=5)
UNTIL = "2026-03-01T00:00:00Z"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input-form") / "events.jsonl"
    write_jsonl(GENERATED, path)
    return path


def trigger_ids(triggers: list[Trigger]) -> list[str]:
    return sorted(t.trigger_id for t in triggers)


@pytest.mark.parametrize("name", ["events.jsonl.gz", "events-gz.jsonl"])
def test_gzip_file_replays_like_the_plain_file(
    replay: Replay, generated: Path, tmp_path: Path, redis_url: str, name: str
) -> None:
    packed = tmp_path / name
    packed.write_bytes(gzip.compress(generated.read_bytes()))
    plain = replay(generated, until=UNTIL, key_prefix="plain")
    try:
        assert trigger_ids(replay(packed, until=UNTIL)) == trigger_ids(plain)
        assert dead_letters(tmp_path / "dead_letters.jsonl") == []
    finally:
        client = redis.Redis.from_url(redis_url)
        client.delete(*client.keys("plain:*"))
        client.close()


# -- disorder: a file not in event-time order (#10.7) -------------------------------------


def contact_of(line: bytes) -> str:
    event = orjson.loads(line)
    return str(event.get("contact_id") or "anon:" + event["anonymous_id"])


@pytest.fixture
def by_contact(generated: Path, tmp_path: Path) -> Path:
    """The generated events sorted by contact, as `sort` on a contact column would."""
    lines = generated.read_bytes().splitlines(keepends=True)
    path = tmp_path / "by-contact.jsonl"
    path.write_bytes(b"".join(sorted(lines, key=contact_of)))
    return path


def test_replay_of_a_file_sorted_by_contact_warns_how_to_sort_it(
    by_contact: Path, tmp_path: Path, redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pulse.input"):
        status = main(
            ["replay", str(by_contact), "--redis-url", redis_url, "--prefix", prefix,
             "--dead-letters", str(tmp_path / "dead.jsonl")]
        )  # fmt: skip
    assert status == 0
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "pulse.input"]
    assert "not in event-time order" in warning and "--sort" in warning


def test_replay_with_sort_gives_the_triggers_of_the_file_in_time_order(
    generated: Path, by_contact: Path, tmp_path: Path, redis_url: str, prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    def run(path: Path, key_prefix: str, *extra: str) -> list[str]:
        triggers = tmp_path / f"{key_prefix}.triggers.jsonl"
        args = ["replay", str(path), "--redis-url", redis_url, "--prefix", key_prefix,
                "--dead-letters", str(tmp_path / "out" / "dead.jsonl"), "--until", UNTIL,
                "--triggers", str(triggers), *extra]  # fmt: skip
        assert main(args) == 0
        decoder = msgspec.json.Decoder(Trigger)
        return trigger_ids([decoder.decode(x) for x in triggers.read_bytes().splitlines()])

    in_order = run(generated, f"{prefix}a")
    with caplog.at_level(logging.WARNING, logger="pulse.input"):
        sorted_run = run(by_contact, f"{prefix}b", "--sort")
    assert sorted_run == in_order
    assert [r for r in caplog.records if r.name == "pulse.input"] == []
    assert (tmp_path / "out" / "by-contact.sorted.jsonl").exists()
    assert counters(redis_url, f"{prefix}b").get("late", 0) == 0


def test_sort_of_stdin_is_refused_with_one_line(
    redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "-i", "-", "--sort", "--redis-url", redis_url, "--prefix", prefix]
    assert main(args) == 2
    assert "`--sort` needs input files" in capsys.readouterr().err


def test_run_with_input_and_sort_replays_in_event_time_order(
    by_contact: Path, tmp_path: Path, redis_url: str, prefix: str
) -> None:
    args = ["run", "-i", str(by_contact), "--sort", "--quiet", "--redis-url", redis_url,
            "--prefix", prefix, "--dead-letters", str(tmp_path / "run" / "dead.jsonl")]  # fmt: skip
    assert main(args) == 0
    assert (tmp_path / "run" / "by-contact.sorted.jsonl").exists()
    stats = counters(redis_url, prefix)
    assert stats["events"] == GENERATED.events
    assert stats.get("late", 0) == 0
