"""An identify on one worker process, the anonymous cart on the other (`--workers 2`).

README ("Who may be messaged", identity): across processes the merge is not done; the
anonymous cart's reminder fires to `anon:<id>` (no address: suppressed), never to the
contact, and the alias is written by the identifying process for its own partition.
"""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import msgspec
import orjson
import redis

from pulse.state import ContactStore, KeyLayout

CONTACT, ANONYMOUS = "c4", "a1"
EVENTS = [
    {"event_id": "w1", "type": "add_to_cart", "ts": "2026-01-05T10:01:00Z",
     "anonymous_id": ANONYMOUS, "props": {"product_id": "p1", "price": 20.0}},
    {"event_id": "w2", "type": "identify", "ts": "2026-01-05T10:10:00Z",
     "contact_id": CONTACT, "anonymous_id": ANONYMOUS, "props": {"traits": {"email": "x"}}},
]  # fmt: skip


def test_a_cross_process_identify_leaves_the_cart_with_the_anonymous_contact(
    redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    assert zlib.crc32(b"anon:" + ANONYMOUS.encode()) % 2 != zlib.crc32(CONTACT.encode()) % 2
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    command = [
        sys.executable, "-m", "pulse.cli", "replay", str(events), "--prefix", "xid",
        "--workers", "2", "--until", "2026-01-05T12:00:00Z", "--redis-url", redis_url,
        "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr

    layout = KeyLayout("xid")
    triggers = [msgspec.json.decode(f[b"json"]) for _, f in redis_client.xrange(layout.triggers)]
    carts = [t for t in triggers if t["trigger"] == "abandon_cart"]
    assert [(t["contact_id"], t["decision"], t["suppressed_reason"]) for t in carts] == [
        ("anon:a1", "suppressed", "no_address")
    ]
    store = ContactStore(redis_client, layout)
    known = store.read_contact(CONTACT)
    assert known is not None and known.cart == {}
    anonymous = store.read_contact("anon:a1")
    assert anonymous is not None and anonymous.cart == {"p1": [1.0, 20.0]}
    alias = redis_client.get(layout.alias("anon:a1"))
    assert alias is not None and alias.split(b"\x1f")[0] == CONTACT.encode()
    stats, _ = store.counts()
    assert "identity:merged" not in stats
