"""kill -9 at random moments, with the shipped rules (model on): nothing lost, nothing doubled.

A replay killed with SIGKILL several times and rerun (a plain rerun: no recovery
directory, so the file is read again from the start and the committed source
positions tell applied events from new ones) must end exactly where an
uninterrupted run ends: the same trigger ids, each once, with the same scores
and stages; the same counters; byte-identical contact states; the same model.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
import redis
from replay_tools import contact_states

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.state import KeyLayout

CONFIG = GeneratorConfig(contacts=800, events=30_000, span_days=40, seed=11)
UNTIL = "2026-03-01T00:00:00Z"
KILLS = 4


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "events.jsonl"
    write_jsonl(CONFIG, path)
    return path


def _replay(events: Path, redis_url: str, prefix: str, scratch: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "pulse.cli", "replay", str(events), "--redis-url", redis_url,
        "--prefix", prefix, "--until", UNTIL, "--batch-size", "250",
        "--dead-letters", str(scratch / f"{prefix}-dead.jsonl"),
    ]  # fmt: skip
    with open(scratch / f"{prefix}.log", "ab") as log:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)


def _events_committed(client: redis.Redis, prefix: str) -> int:
    return int(client.hget(KeyLayout(prefix).stats, "events") or 0)


def _snapshot(client: redis.Redis, prefix: str) -> dict[str, object]:
    layout = KeyLayout(prefix)
    entries = client.xrange(layout.triggers)
    triggers = [msgspec.json.decode(fields[b"json"]) for _, fields in entries]
    for trigger in triggers:
        trigger.pop("emitted_at")
    ids = [t["trigger_id"] for t in triggers]
    stats = {
        k.decode(): int(v)
        for k, v in client.hgetall(layout.stats).items()
        if k not in (b"replayed",)
    }
    return {
        "duplicate_ids": len(ids) - len(set(ids)),
        "triggers": sorted(triggers, key=lambda t: t["trigger_id"]),
        "stats": stats,
        "stages": client.hgetall(layout.stages),
        "states": contact_states(client, prefix),
        "model": client.get(layout.model),
        "model_quality": client.hgetall(layout.model_quality),
    }


def test_kill_9_at_random_moments_with_the_model_on_changes_nothing(
    events_file: Path, redis_url: str, prefix: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    whole = _replay(events_file, redis_url, prefix + "-whole", tmp_path)
    assert whole.wait(timeout=240) == 0, (tmp_path / f"{prefix}-whole.log").read_text()

    crashed, kills, rng = prefix + "-crashed", 0, random.Random(5)
    for _ in range(KILLS):
        run = _replay(events_file, redis_url, crashed, tmp_path)
        before = _events_committed(redis_client, crashed)
        deadline = time.monotonic() + 120
        # Wait until this run has committed something, then kill it a moment later.
        while _events_committed(redis_client, crashed) == before and run.poll() is None:
            assert time.monotonic() < deadline, "the run never committed a batch"
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.6))
        if run.poll() is not None:
            break
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        kills += 1
    final = _replay(events_file, redis_url, crashed, tmp_path)
    assert final.wait(timeout=240) == 0, (tmp_path / f"{crashed}.log").read_text()

    assert kills >= 2, "the runs ended before they could be killed: use a larger input"
    expected, got = _snapshot(redis_client, prefix + "-whole"), _snapshot(redis_client, crashed)
    assert expected["model"] is not None, "the shipped pack runs the model"
    assert got["duplicate_ids"] == 0
    assert got["triggers"] == expected["triggers"]
    assert got["stats"] == expected["stats"]
    assert got["stages"] == expected["stages"]
    assert got["states"] == expected["states"]
    assert got["model"] == expected["model"]
    assert got["model_quality"] == expected["model_quality"]
