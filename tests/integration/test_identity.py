"""Identity through the real flow and Redis: a merge happens once, an alias resolves."""

from __future__ import annotations

from pathlib import Path

import orjson
import redis

from pulse.state import ContactStore, KeyLayout

EVENTS = [
    {"event_id": "i1", "type": "product_view", "ts": "2026-01-05T10:00:00Z",
     "anonymous_id": "a1", "props": {"product_id": "p1", "price": 20.0}},
    {"event_id": "i2", "type": "add_to_cart", "ts": "2026-01-05T10:01:00Z",
     "anonymous_id": "a1", "props": {"product_id": "p1", "price": 20.0}},
    {"event_id": "i3", "type": "identify", "ts": "2026-01-05T10:10:00Z",
     "contact_id": "c1", "anonymous_id": "a1"},
    {"event_id": "i4", "type": "page_view", "ts": "2026-01-05T10:15:00Z", "anonymous_id": "a1"},
    # A second identify of the same browser by another contact: the first link wins.
    {"event_id": "i5", "type": "login", "ts": "2026-01-05T10:20:00Z",
     "contact_id": "c2", "anonymous_id": "a1"},
]  # fmt: skip


def _write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    return path


def test_replaying_twice_merges_the_anonymous_state_once(
    replay, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    events = _write(tmp_path / "events.jsonl", EVENTS)
    client = redis.Redis.from_url(redis_url)
    store = ContactStore(client, KeyLayout(prefix))

    first = replay(events, until="2026-01-05T12:00:00Z", batch_size=1)
    state_after_first = store.read_contact("c1")
    second = replay(events, until="2026-01-05T12:00:00Z", batch_size=1)

    assert [(t.trigger, t.contact_id, t.decision) for t in first] == [
        ("abandon_cart", "c1", "sent")
    ]
    assert second == []
    stats, _ = store.counts()
    assert stats["identity:merged"] == 1
    assert stats["identity:alias_conflict"] == 1
    assert store.read_contact("c1") == state_after_first
    assert state_after_first is not None and state_after_first.cart == {"p1": [1.0, 20.0]}
    assert store.read_contact("anon:a1") is None
    assert client.get(KeyLayout(prefix).alias("anon:a1")).split(b"\x1f")[0] == b"c1"


def test_an_identify_seen_again_under_a_new_id_does_not_merge_twice(
    replay, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    again = {**EVENTS[2], "event_id": "i3-again", "ts": "2026-01-05T10:12:00Z"}
    events = _write(tmp_path / "events.jsonl", [*EVENTS[:3], again])
    client = redis.Redis.from_url(redis_url)
    store = ContactStore(client, KeyLayout(prefix))

    replay(events, until="2026-01-05T12:00:00Z", batch_size=1000)

    stats, _ = store.counts()
    assert stats["identity:merged"] == 1
    state = store.read_contact("c1")
    assert state is not None
    assert state.cart == {"p1": [1.0, 20.0]}  # not doubled
    assert sum(n for buckets in [state.counts["add_to_cart"]] for n in buckets[1::2]) == 1


def test_an_anonymous_cart_never_identified_is_suppressed_without_address(
    replay, tmp_path: Path
) -> None:
    events = _write(tmp_path / "events.jsonl", EVENTS[:2])

    (trigger,) = replay(events, until="2026-01-05T12:00:00Z")

    assert (trigger.contact_id, trigger.decision, trigger.suppressed_reason) == (
        "anon:a1", "suppressed", "no_address"
    )  # fmt: skip
