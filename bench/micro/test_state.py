"""The state round trip on real Redis: one batch's load and atomic commit."""

from __future__ import annotations

from collections import Counter

import pytest
import redis
from pytest_benchmark.fixture import BenchmarkFixture

from conftest import BATCH
from pulse.contact import ContactState, decode_state, encode_state
from pulse.state import ContactStore, KeyLayout

PARTITION = "bench"


@pytest.fixture
def store(redis_url: str, state_blobs: dict[str, bytes]) -> ContactStore:
    """A store whose Redis holds the benchmark contacts, as after a previous batch."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    store = ContactStore(client, KeyLayout("bench"))
    store.mark_run()
    states = {key: decode_state(blob) for key, blob in state_blobs.items()}
    store.commit(states, dict.fromkeys(states, PARTITION), [], Counter(), Counter())
    return store


@pytest.mark.benchmark(group="state")
def test_load_and_commit_1000_contacts(
    benchmark: BenchmarkFixture, store: ContactStore, fresh_states: dict[str, ContactState]
) -> None:
    """`ContactStore.load` then `commit` of a batch's contacts: the flow's two round trips."""
    keys = list(fresh_states)
    partitions = dict.fromkeys(keys, PARTITION)
    watermark = {PARTITION: 0}
    benchmark.extra_info["items"] = len(keys)

    def round_trip() -> None:
        states, _, _ = store.load(keys, watermark)
        store.commit(states, partitions, [], Counter({"events": len(keys)}), Counter())

    benchmark(round_trip)

    assert len(keys) == BATCH


@pytest.mark.benchmark(group="state")
def test_load_1000_contacts(
    benchmark: BenchmarkFixture, store: ContactStore, state_blobs: dict[str, bytes]
) -> None:
    """`ContactStore.load` alone: `MGET`, the due-timer query, msgpack decode."""
    keys = list(state_blobs)
    benchmark.extra_info["items"] = len(keys)

    states, _, _ = benchmark(store.load, keys, {PARTITION: 0})

    assert len(states) == BATCH


@pytest.mark.benchmark(group="state")
def test_encode_decode_1000_states(
    benchmark: BenchmarkFixture, fresh_states: dict[str, ContactState]
) -> None:
    """msgpack encode and decode of a batch's states: the client-side share of the round trip."""
    states = list(fresh_states.values())
    benchmark.extra_info["items"] = len(states)

    decoded = benchmark(lambda: [decode_state(encode_state(state)) for state in states])

    assert len(decoded) == BATCH
