"""Traits through the real flow and Redis: copied to a trigger, read by a condition."""

from __future__ import annotations

from pathlib import Path

import orjson
import redis

from pulse.state import ContactStore, KeyLayout

EVENTS = [
    {"event_id": "t1", "type": "identify", "ts": "2026-01-05T10:00:00Z", "contact_id": "c1",
     "anonymous_id": "a1", "props": {"traits": {"first_name": "Ada", "locale": "fr-FR",
                                                "plan": "pro", "tags": ["x"]}}},
    {"event_id": "t2", "type": "add_to_cart", "ts": "2026-01-05T10:01:00Z",
     "contact_id": "c1", "props": {"product_id": "p1", "price": 20.0}},
    {"event_id": "t3", "type": "page_view", "ts": "2026-01-05T10:02:00Z", "contact_id": "c1"},
]  # fmt: skip
RULES = """
version: 1
name: traits
model: {enabled: false}
scoring:
  rules:
    - {name: pro_view, event: page_view, points: 5, when: 'contact.traits.plan == "pro"'}
triggers:
  - {kind: abandon_cart, after: 30m, channel: email, traits: [first_name, locale, missing]}
"""


def test_abandon_cart_carries_the_named_traits_and_a_condition_reads_them(
    replay, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")

    triggers = replay(events, rules=RULES, until="2026-01-05T12:00:00Z")

    (cart,) = [t for t in triggers if t.trigger == "abandon_cart"]
    assert cart.traits == {"first_name": "Ada", "locale": "fr-FR"}
    store = ContactStore(redis.Redis.from_url(redis_url), KeyLayout(prefix))
    stats, _ = store.counts()
    assert stats["rule:pro_view:hits"] == 1
    assert stats["trait_bad_value"] == 1  # the list `tags`
