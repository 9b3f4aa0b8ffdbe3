"""pulse on a real Redis Cluster: three masters on loopback, keys in groups, two-phase commits.

The cluster is started by the fixture as an operator would (`redis-server
--cluster-enabled yes` three times, `redis-cli --cluster create`). The flow runs the
shipped pack (model on) through `redis+cluster://` and must fire exactly the
triggers the one-server run fires; a batch commit a writer decided but did not
finish applying is finished by the next store to start, once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from pulse.batch import StreamPosition
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.contact import ContactState
from pulse.rules import default_rules_path
from pulse.state import ContactStore, connect, layout_for, read_all_triggers
from pulse.state.lua import APPLY
from pulse.state.outbox import iter_states
from pulse.state.privacy import Privacy

CONFIG = GeneratorConfig(contacts=150, events=4_000, span_days=60, seed=5)
UNTIL = "2026-08-01T00:00:00Z"


@pytest.fixture
def cluster_url(redis_cluster_url: str) -> str:
    return redis_cluster_url


def test_the_cluster_url_gives_a_cluster_client_and_the_grouped_layout(cluster_url: str) -> None:
    client = connect(cluster_url)
    layout = layout_for(client, "p")

    assert isinstance(client, redis.RedisCluster)
    assert layout.groups == 16
    slots = {client.keyslot(layout.contact(f"c{i}")) for i in range(200)}
    assert len(slots) == 16  # one slot per key group, whatever the contact
    assert len({client.keyslot(k) for k in layout.trigger_streams}) == 16
    assert client.keyslot(layout.stats) == client.keyslot(layout.positions)


def test_the_flow_on_a_cluster_fires_what_one_server_fires(
    replay: Any, tmp_path: Path, cluster_url: str, prefix: str
) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(CONFIG, events)

    one_server = replay(events, until=UNTIL)
    on_cluster = replay(events, until=UNTIL, redis_url=cluster_url, key_prefix=prefix + "c")

    assert len(one_server) > 100
    assert sorted((t.trigger_id, t.decision) for t in on_cluster) == sorted(
        (t.trigger_id, t.decision) for t in one_server
    )
    client = connect(cluster_url)
    layout = layout_for(client, prefix + "c")
    stored = read_all_triggers(client, layout)
    assert sorted(t.trigger_id for t in stored) == sorted(t.trigger_id for t in one_server)
    used = [s for s in layout.trigger_streams if client.xlen(s)]
    assert len(used) > 8  # the triggers are spread over the groups' streams, not one slot
    stats = {k.decode(): int(v) for k, v in client.hgetall(layout.stats).items()}
    assert stats["triggers"] == len(one_server)
    # Privacy works on the grouped layout: one contact's state and triggers, then gone.
    contact = one_server[0].contact_id
    privacy = Privacy(client, layout)
    exported = privacy.export(contact)
    assert exported is not None
    assert exported["triggers"]
    assert {t["contact_id"] for t in exported["triggers"]} == {contact}
    privacy.delete(contact)
    assert not client.exists(layout.contact(contact))
    left = read_all_triggers(client, layout)
    assert contact not in {t.contact_id for t in left}
    assert len(left) == len(stored) - len(exported["triggers"])


def _commit_one_batch(store: ContactStore, contacts: list[str]) -> None:
    states = {}
    for key in contacts:
        state = ContactState()
        state.last_ts = 1_700_000_000_000
        states[key] = state
    store.commit(
        states,
        dict.fromkeys(contacts, "p0"),
        [],
        {"events": len(contacts)},
        {},
        positions={"s": (None, StreamPosition(10, 1_700_000_000_001))},
    )


def test_a_decided_commit_left_half_applied_is_finished_once_by_the_next_store(
    cluster_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = connect(cluster_url)
    layout = layout_for(client, prefix + "h")
    crashed = ContactStore(client, layout)
    crashed.mark_run()
    contacts = [f"c{i}" for i in range(40)]
    groups = {layout.group(k) for k in contacts}
    assert len(groups) > 3
    applied_by_crashed: list[str] = []

    def apply_only_the_first(parts: list[tuple[str, str]]) -> int:
        # The writer stops after applying one key group: the others stay prepared.
        key, seq = parts[0]
        applied_by_crashed.append(key)
        client.eval(APPLY, 1, key, seq)
        return 1

    monkeypatch.setattr(crashed, "_apply_prepared", apply_only_the_first)
    _commit_one_batch(crashed, contacts)
    monkeypatch.undo()

    present = [k for k in contacts if client.exists(layout.contact(k))]
    assert 0 < len(present) < len(contacts)  # half applied: the decision is recorded
    assert client.hget(layout.positions, "s") is not None

    restarted = ContactStore(client, layout)
    restarted.mark_run()  # recovers at start

    assert all(client.exists(layout.contact(k)) for k in contacts)
    assert client.hlen(layout.decided) == 0
    assert ContactStore(client, layout).recover() == 0  # nothing is applied twice
    assert int(client.hget(layout.stats, "events")) == len(contacts)


def test_an_undecided_commit_is_never_applied(cluster_url: str, prefix: str) -> None:
    client = connect(cluster_url)
    layout = layout_for(client, prefix + "u")
    store = ContactStore(client, layout)
    store.mark_run()
    client.delete(layout.marker)  # the decision will be refused: Redis "lost its data"

    with pytest.raises(Exception, match="run marker"):
        _commit_one_batch(store, ["a", "b", "c"])

    assert store.recover() == 0
    assert not any(client.exists(layout.contact(k)) for k in ("a", "b", "c"))


def test_2_worker_processes_on_the_cluster_fire_the_triggers_of_1_on_one_server(
    tmp_path: Path, cluster_url: str, redis_url: str, prefix: str
) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(CONFIG, events)
    rules = tmp_path / "model_off.yaml"  # processes share a model by interleaving: off
    rules.write_text(default_rules_path().read_text() + "\nmodel:\n  enabled: false\n")

    def run(url: str, run_prefix: str, workers: str) -> list[tuple[str, str]]:
        command = [
            sys.executable, "-m", "pulse.cli", "replay", str(events), "--rules", str(rules),
            "--until", UNTIL, "--prefix", run_prefix, "--redis-url", url, "--workers", workers,
            "--dead-letters", str(tmp_path / f"{run_prefix}-dead.jsonl"),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
        assert done.returncode == 0, done.stderr
        client = connect(url)
        return sorted(
            (t.trigger_id, t.decision)
            for t in read_all_triggers(client, layout_for(client, run_prefix))
        )

    one = run(redis_url, prefix + "w1", "1")
    two = run(cluster_url, prefix + "w2", "2")

    assert len(one) > 100
    assert two == one


def test_contact_states_are_listed_from_every_key_group(cluster_url: str, prefix: str) -> None:
    client = connect(cluster_url)
    layout = layout_for(client, prefix + "l")
    store = ContactStore(client, layout)
    store.mark_run()
    contacts = [f"c{i}" for i in range(30)]
    _commit_one_batch(store, contacts)

    listed = dict(iter_states(client, prefix + "l"))

    assert len({layout.group(k) for k in contacts}) > 8
    assert sorted(listed) == sorted(contacts)
    assert all(state.last_ts == 1_700_000_000_000 for state in listed.values())
