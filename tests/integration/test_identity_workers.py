"""Identity across worker processes (`--workers 2`, `pulse.handoff`).

An identify whose anonymous id belongs to one process's part and whose contact to the
other's: the anonymous id's process hands its state over, the contact's process merges
it, exactly as one process would. A visitor mix run with one and with two processes
gives the same triggers, counters and states.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
import redis
from replay_tools import contact_states

from pulse.config import Part
from pulse.contact import ContactState, decode_state
from pulse.events import decode_event
from pulse.handoff import PartIdentity
from pulse.identity import Handoff
from pulse.state import ContactStore, KeyLayout
from pulse.state.handoffs import HandoffOut

CONTACT, ANONYMOUS = "c4", "a1"
EVENTS = [
    {"event_id": "w1", "type": "add_to_cart", "ts": "2026-01-05T10:01:00Z",
     "anonymous_id": ANONYMOUS, "props": {"product_id": "p1", "price": 20.0}},
    {"event_id": "w2", "type": "identify", "ts": "2026-01-05T10:10:00Z",
     "contact_id": CONTACT, "anonymous_id": ANONYMOUS, "props": {"traits": {"email": "x"}}},
    {"event_id": "w3", "type": "page_view", "ts": "2026-01-05T10:12:00Z",
     "anonymous_id": ANONYMOUS, "props": {"url": "/shoes"}},
]  # fmt: skip


def _replay(redis_url: str, events: Path, prefix: str, workers: int, tmp_path: Path) -> None:
    command = [
        sys.executable, "-m", "pulse.cli", "replay", str(events), "--prefix", prefix,
        "--workers", str(workers), "--until", "2026-01-09T12:00:00Z", "--redis-url", redis_url,
        "--dead-letters", str(tmp_path / f"dead-{prefix}.jsonl"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr


def _triggers(client: redis.Redis, layout: KeyLayout) -> list[dict[str, Any]]:
    return [msgspec.json.decode(f[b"json"]) for _, f in client.xrange(layout.triggers)]


def test_a_cross_process_identify_moves_the_cart_to_the_contact(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    assert Part(0, 2).owns("anon:" + ANONYMOUS) != Part(0, 2).owns(CONTACT), "not across parts"
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    _replay(redis_url, events, "xid", 2, tmp_path)

    layout = KeyLayout("xid")
    carts = [t for t in _triggers(redis_client, layout) if t["trigger"] == "abandon_cart"]
    assert [(t["contact_id"], t["decision"]) for t in carts] == [(CONTACT, "sent")]
    store = ContactStore(redis_client, layout)
    known = store.read_contact(CONTACT)
    assert known is not None and known.cart == {"p1": [1.0, 20.0]}
    assert known.counts.get("page_view"), "the anonymous event after the identify is the contact's"
    assert store.read_contact("anon:a1") is None
    alias = redis_client.get(layout.alias("anon:a1"))
    assert alias is not None and alias.split(b"\x1f")[0] == CONTACT.encode()
    assert redis_client.get(layout.adopted("anon:a1")) == CONTACT.encode()
    assert not list(redis_client.scan_iter(layout.handoff("anon:a1", "*")))
    stats, _ = store.counts()
    assert stats["identity:merged"] == 1
    assert "identity:handoff_missing" not in stats


@pytest.mark.parametrize("deleted", [CONTACT, "anon:" + ANONYMOUS])
def test_an_identify_across_processes_of_a_deleted_person_is_skipped_as_by_1(
    deleted: str, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    outcomes = []
    for workers in (1, 2):
        prefix = f"xdel{workers}"
        _privacy(redis_url, "delete", deleted, prefix)  # a tombstone, before any event
        _replay(redis_url, events, prefix, workers, tmp_path)
        outcomes.append(_outcome(redis_client, prefix))

    one, two = outcomes
    assert one["stats"]["tombstoned"] >= 1
    assert "identity:handoff_missing" not in two["stats"], "waited for a hand-off never made"
    assert two == one
    assert not list(redis_client.scan_iter(match="xdel2:*handoff*")), "a hand-off not taken"


def test_privacy_export_and_delete_cover_the_adoption(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    _replay(redis_url, events, "xpriv", 2, tmp_path)
    layout = KeyLayout("xpriv")
    pending = layout.handoff("anon:a1", "not-taken")
    redis_client.set(pending, b"x")  # as a stopped process would leave one

    held = orjson.loads(_privacy(redis_url, "export", CONTACT, "xpriv"))
    assert held["adopted"] == {"anon:a1": CONTACT}
    summary = orjson.loads(_privacy(redis_url, "delete", CONTACT, "xpriv"))

    assert summary["aliases_deleted"] == 3, "the alias, the adoption and the hand-off"
    assert redis_client.get(layout.adopted("anon:a1")) is None
    assert redis_client.get(pending) is None


def _privacy(redis_url: str, action: str, contact: str, prefix: str) -> str:
    command = [sys.executable, "-m", "pulse.cli", "privacy", action, contact,
               "--redis-url", redis_url, "--prefix", prefix]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _visitors(seed: int, count: int) -> list[dict[str, Any]]:
    """Visitors browsing and carting anonymously, most identifying later (some twice,
    some as a contact another visitor already linked), and a few known-only contacts."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for n in range(count):
        start = 1_767_600_000_000 + rng.randrange(0, 6 * 3600_000)
        anon, contact = f"v{n}", f"k{rng.randrange(count * 2 // 3)}"
        steps = [("page_view", {"anonymous_id": anon}, {"url": f"/p{n}"})]
        if rng.random() < 0.6:
            steps.append(("add_to_cart", {"anonymous_id": anon},
                          {"product_id": f"p{n % 7}", "price": 10.0 + n % 13}))  # fmt: skip
        if rng.random() < 0.7:
            steps.append(("identify", {"anonymous_id": anon, "contact_id": contact},
                          {"traits": {"email": f"{contact}@example.com"}}))  # fmt: skip
            if rng.random() < 0.2:  # again: the same contact, or another (a conflict)
                again = contact if rng.random() < 0.5 else f"k{rng.randrange(count)}"
                steps.append(("identify", {"anonymous_id": anon, "contact_id": again}, {}))
        steps.append(("page_view", {"anonymous_id": anon}, {"url": "/after"}))
        if rng.random() < 0.3:
            steps.append(
                ("purchase", {"contact_id": contact}, {"order_id": f"o{n}", "value": 30.0})
            )
        ts = start
        for i, (kind, ids, props) in enumerate(steps):
            ts += rng.randrange(30_000, 40 * 60_000)
            events.append(
                {"event_id": f"e{n}-{i}", "type": kind, "ts_ms": ts, **ids, "props": props}
            )
    events.sort(key=lambda e: e["ts_ms"])
    for e in events:
        e["ts"] = e.pop("ts_ms")
    return events


@pytest.mark.parametrize("workers", [2, 3])
def test_visitors_identifying_across_processes_end_as_with_1(
    workers: int, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    visitors = _visitors(5, 400)
    events = tmp_path / "visitors.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in visitors) + b"\n")
    _replay(redis_url, events, "vis1", 1, tmp_path)
    _replay(redis_url, events, "visn", workers, tmp_path)

    one, many = _outcome(redis_client, "vis1"), _outcome(redis_client, "visn")
    assert one["stats"]["identity:merged"] > 100, "the mix has too few merges to compare"
    assert one["stats"].get("identity:alias_conflict"), "the mix has no conflicting identify"
    part = Part(0, workers)
    crossing = sum(
        part.owner("anon:" + e["anonymous_id"]) != part.owner(e["contact_id"])
        for e in visitors
        if e["type"] == "identify"
    )
    assert crossing > 50, "too few identifies cross the parts"
    assert many["triggers"] == one["triggers"]
    assert many["stats"] == one["stats"]
    assert many["states"] == one["states"]
    assert not list(redis_client.scan_iter(match="visn:*handoff*")), "a hand-off not taken"


def _outcome(client: redis.Redis, prefix: str) -> dict[str, Any]:
    layout = KeyLayout(prefix)
    triggers = _triggers(client, layout)
    for trigger in triggers:
        trigger.pop("emitted_at")
    stats = {k.decode(): int(v) for k, v in client.hgetall(layout.stats).items()}
    stats.pop("replayed", None)
    return {
        "triggers": sorted(triggers, key=lambda t: (t["trigger_id"], t["ts_ms"])),
        "stats": stats,
        "states": {key: _without_part(raw) for key, raw in contact_states(client, prefix).items()},
    }


def _without_part(raw: bytes) -> ContactState:
    """A state, its home partition named without the part (`files/1-of-2` is `files`
    in one process)."""
    state = decode_state(raw)
    return msgspec.structs.replace(state, home=state.home.partition("/")[0])


def test_a_wait_takes_a_hand_off_sent_late_and_gives_up_on_a_missing_one(
    redis_client: redis.Redis,
) -> None:
    store = ContactStore(redis_client, KeyLayout("xwait"))
    sending, waiting = (PartIdentity(Part(i, 2), store, wait_s=0.3) for i in (0, 1))
    identify = decode_event(orjson.dumps(EVENTS[1]))
    theirs = HandoffOut("anon:a1", "t1", Handoff("linked"))
    threading.Timer(0.1, sending.send, (theirs,)).start()

    assert waiting.wait("anon:a1", "t1", identify) == Handoff("linked")
    assert waiting.wait("anon:a1", "t2", identify) is None
