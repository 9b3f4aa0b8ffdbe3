"""Determinism through the real flow: batch size and replays do not change the outcome."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from replay_tools import comparable, contact_states

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.state import ContactStore, KeyLayout
from pulse.triggers import Trigger

Replay = Callable[..., list[Trigger]]

CONFIG = GeneratorConfig(contacts=300, events=6000, span_days=120, seed=3)
# Far enough past the generated span (2026-01-01 + 120 days) that every timer is due.
UNTIL = "2026-09-01T00:00:00Z"


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("determinism") / "events.jsonl"
    assert write_jsonl(CONFIG, path) == CONFIG.events
    return path


def stats(client: redis.Redis, prefix: str) -> dict[str, int]:
    counts, _ = ContactStore(client, KeyLayout(prefix)).counts()
    return counts


def test_batch_size_1_and_1000_give_the_same_trigger_ids(
    replay: Replay, events_file: Path, prefix: str
) -> None:
    one = replay(events_file, batch_size=1, key_prefix=prefix + "-b1")
    thousand = replay(events_file, batch_size=1000, key_prefix=prefix + "-b1000")
    ids_one = {t.trigger_id for t in one}
    assert len(ids_one) == len(one), "a trigger id was emitted twice"
    assert ids_one == {t.trigger_id for t in thousand}
    kinds = Counter(t.kind for t in thousand)
    assert len(kinds) >= 4, kinds
    assert comparable(one) == comparable(thousand)


def test_second_replay_of_the_same_file_fires_nothing_and_skips_every_event(
    replay: Replay, events_file: Path, prefix: str, redis_client: redis.Redis
) -> None:
    first = replay(events_file)
    assert first
    after_first = stats(redis_client, prefix)

    second = replay(events_file)
    after_second = stats(redis_client, prefix)

    assert second == []
    # Recognised by source position: every line of the file, duplicates included.
    replayed = after_second.get("replayed", 0) - after_first.get("replayed", 0)
    assert replayed == after_first["events"] + after_first.get("duplicates", 0)
    assert after_second.get("duplicates", 0) == after_first.get("duplicates", 0)
    assert after_second["events"] == after_first["events"]
    assert after_second["triggers"] == after_first["triggers"]


def test_second_replay_of_the_same_file_leaves_contact_states_byte_identical(
    replay: Replay, events_file: Path, prefix: str, redis_client: redis.Redis
) -> None:
    replay(events_file)
    states_first = contact_states(redis_client, prefix)
    assert len(states_first) == CONFIG.contacts

    replay(events_file)

    states_second = contact_states(redis_client, prefix)
    changed = sorted(k.decode() for k in states_first if states_second.get(k) != states_first[k])
    assert changed == []
    assert states_second.keys() == states_first.keys()


def test_until_gives_the_same_triggers_at_batch_sizes_7_and_500(
    replay: Replay, events_file: Path, prefix: str
) -> None:
    small = replay(events_file, batch_size=7, until=UNTIL, key_prefix=prefix + "-b7")
    large = replay(events_file, batch_size=500, until=UNTIL, key_prefix=prefix + "-b500")
    assert small
    assert comparable(small) == comparable(large)
    # The end-of-input watermark fires the long silences the events alone never reach.
    assert {"rescue", "lost_customer"} <= {t.kind for t in large}


def test_until_fires_timers_a_plain_replay_leaves_pending(
    replay: Replay, events_file: Path, prefix: str
) -> None:
    plain = replay(events_file, key_prefix=prefix + "-plain")
    until = replay(events_file, until=UNTIL, key_prefix=prefix + "-until")
    plain_ids = {t.trigger_id for t in plain}
    until_ids = {t.trigger_id for t in until}
    assert plain_ids < until_ids
