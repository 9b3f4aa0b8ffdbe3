"""Corrupt data in Redis is a `StateError` that names the key, from every reader of the seam."""

from __future__ import annotations

import pytest
import redis

from pulse.errors import StateError
from pulse.state import ContactStore, KeyLayout, RelayCursor
from pulse.state.outbox import iter_states, read_triggers


def test_corrupt_contact_state_read_back_is_a_state_error_naming_the_contact(
    redis_client: redis.Redis, prefix: str
) -> None:
    layout = KeyLayout(prefix)
    redis_client.set(layout.contact("c1"), b"\xc1 not msgpack")
    with pytest.raises(StateError, match=r"the state of contact `c1` .* is corrupt"):
        ContactStore(redis_client, layout).read_contact("c1")
    with pytest.raises(StateError, match=f"cannot list contact states under `{prefix}`"):
        list(iter_states(redis_client, prefix))


def test_corrupt_trigger_on_the_stream_is_a_state_error_naming_the_stream(
    redis_client: redis.Redis, prefix: str
) -> None:
    stream = KeyLayout(prefix).triggers
    redis_client.xadd(stream, {"id": "t1", "json": b"{not json"})
    with pytest.raises(StateError, match=f"trigger stream `{stream}`: corrupt data"):
        read_triggers(redis_client, stream)


def test_relay_cursor_round_trip_and_entries_after_it(
    redis_client: redis.Redis, prefix: str
) -> None:
    layout = KeyLayout(prefix)
    cursor = RelayCursor(redis_client, layout, "out")
    assert cursor.read() == "0-0"
    first = redis_client.xadd(layout.triggers, {"id": "t1", "json": b"{}"}).decode()
    redis_client.xadd(layout.triggers, {"id": "t2", "json": b"{}"})
    cursor.save(first)
    assert cursor.read() == first
    assert [fields[b"id"] for _, fields in cursor.entries_after(first, 10)] == [b"t2"]


def test_unreachable_redis_is_a_state_error_from_the_relay_cursor() -> None:
    client = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens on port 1
    with pytest.raises(StateError, match="reading relay cursor `pulse:relay:out` failed"):
        RelayCursor(client, KeyLayout(), "out").read()
