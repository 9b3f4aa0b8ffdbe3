"""Several worker processes (`--workers N`) through the real CLI and a real Redis.

With the model off, splitting the contacts over processes changes nothing: the
same trigger ids with the same scores and stages, the same counters and stages.
With the model on, processes share one model through the trainer lease, so what
it learns depends on how they interleave: those runs are checked to complete and
learn, not compared.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.rules import default_rules_path
from pulse.state import KeyLayout

CONFIG = GeneratorConfig(contacts=300, events=6000, span_days=120, seed=3)
UNTIL = "2026-09-01T00:00:00Z"  # past the generated span: every timer is due


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("workers") / "events.jsonl"
    write_jsonl(CONFIG, path)
    return path


@pytest.fixture(scope="module")
def model_off(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "model_off.yaml"
    path.write_text(default_rules_path().read_text() + "\nmodel:\n  enabled: false\n")
    return path


def pulse(
    *args: str, redis_url: str, check: bool = True, timeout_s: float = 240
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pulse.cli", *args, "--redis-url", redis_url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def replay(
    events: Path, rules: Path, prefix: str, scratch: Path, redis_url: str, *options: str
) -> subprocess.CompletedProcess[str]:
    return pulse(
        "replay", str(events), "--rules", str(rules), "--prefix", prefix, "--until", UNTIL,
        "--dead-letters", str(scratch / f"{prefix}-dead.jsonl"), *options,
        redis_url=redis_url,
    )  # fmt: skip


def outcome(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """Triggers (without their wall-clock stamp), counters and stages committed in Redis."""
    layout = KeyLayout(prefix)
    triggers = [
        msgspec.json.decode(fields[b"json"]) for _, fields in client.xrange(layout.triggers)
    ]
    for trigger in triggers:
        trigger.pop("emitted_at")
    stats = {k.decode(): int(v) for k, v in client.hgetall(layout.stats).items()}
    return {
        "triggers": sorted(triggers, key=lambda t: t["trigger_id"]),
        "stats": stats,
        "stages": {k.decode(): int(v) for k, v in client.hgetall(layout.stages).items()},
    }


def test_replay_with_2_workers_fires_the_triggers_scores_and_stages_of_1_worker(
    events_file: Path, model_off: Path, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    replay(events_file, model_off, "one", tmp_path, redis_url, "--workers", "1")
    done = replay(events_file, model_off, "two", tmp_path, redis_url, "--workers", "2")

    one, two = outcome(redis_client, "one"), outcome(redis_client, "two")
    assert len(one["triggers"]) > 100
    ids = [t["trigger_id"] for t in two["triggers"]]
    assert len(ids) == len(set(ids)), "a trigger id was emitted twice"
    assert two["triggers"] == one["triggers"]
    assert two["stats"] == one["stats"]
    assert two["stages"] == one["stages"]
    assert "2 worker processes" in done.stderr
    # Each part committed its own position in the file.
    streams = [k.decode() for k in redis_client.hkeys(KeyLayout("two").positions)]
    assert sorted(s.rpartition("@")[2] for s in streams) == ["0-of-2", "1-of-2"]


def test_second_replay_with_2_workers_changes_nothing(
    events_file: Path, model_off: Path, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    replay(events_file, model_off, "again", tmp_path, redis_url, "--workers", "2")
    first = outcome(redis_client, "again")
    states = _states(redis_client, "again")

    replay(events_file, model_off, "again", tmp_path, redis_url, "--workers", "2")

    second = outcome(redis_client, "again")
    replayed = second["stats"].pop("replayed", 0) - first["stats"].pop("replayed", 0)
    assert replayed == CONFIG.events
    assert second == first
    assert _states(redis_client, "again") == states


def test_2_workers_on_the_generator_fire_the_triggers_of_1_worker(
    model_off: Path, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    generator = ["--contacts", "200", "--events", "4000", "--seed", "9", "--until", UNTIL]
    for prefix, workers in (("gen1", "1"), ("gen2", "2")):
        pulse(
            "run", "--quiet", "--rules", str(model_off), "--prefix", prefix, *generator,
            "--workers", workers, "--dead-letters", str(tmp_path / "dead.jsonl"),
            redis_url=redis_url,
        )  # fmt: skip
    one, two = outcome(redis_client, "gen1"), outcome(redis_client, "gen2")
    assert one["triggers"]
    assert two == one


def test_2_workers_with_the_model_on_complete_and_learn(
    events_file: Path, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    done = replay(events_file, default_rules_path(), "model", tmp_path, redis_url, "--workers", "2")
    quality = redis_client.hgetall(KeyLayout("model").model_quality)
    assert int(float(quality[b"labels"])) > 0, quality
    assert outcome(redis_client, "model")["stats"]["events"] == CONFIG.events
    assert "labels learned" in done.stderr


def test_a_file_replayed_with_another_worker_count_is_refused(
    events_file: Path, model_off: Path, redis_url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    replay(events_file, model_off, "split", tmp_path, redis_url, "--workers", "2")
    before = outcome(redis_client, "split")
    for workers in ("1", "3"):
        done = pulse(
            "replay", str(events_file), "--rules", str(model_off), "--prefix", "split",
            "--workers", workers, redis_url=redis_url, check=False,
        )  # fmt: skip
        assert done.returncode == 2
        assert "with `--workers 2`" in done.stderr
    assert outcome(redis_client, "split") == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--workers", "0"], "Expected a whole number >= 1, got `0`"),
        (["--workers", "two"], "Expected a whole number >= 1, got `two`"),
        (["--workers", "2", "--compare", "rules/default.yaml"], "`--compare`"),
    ],
)
def test_bad_worker_options_are_refused(
    events_file: Path, redis_url: str, options: list[str], message: str
) -> None:
    done = pulse("replay", str(events_file), *options, redis_url=redis_url, check=False)
    assert done.returncode == 2
    assert message in done.stderr


def test_2_workers_on_standard_input_are_refused(events_file: Path, redis_url: str) -> None:
    done = pulse("run", "-i", "-", "--workers", "2", redis_url=redis_url, check=False)
    assert done.returncode == 2
    assert "standard input" in done.stderr


def test_a_worker_killed_stops_the_others_and_the_run_fails(redis_url: str, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    write_jsonl(GeneratorConfig(contacts=2000, events=200_000, seed=4), big)
    command = [
        sys.executable, "-m", "pulse.cli", "replay", str(big), "--redis-url", redis_url,
        "--prefix", "killed", "--workers", "2", "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip
    parent = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    children = _wait_for_children(parent.pid, 2)
    os.kill(children[0], signal.SIGKILL)
    _, stderr = parent.communicate(timeout=120)
    assert parent.returncode == 128 + signal.SIGKILL, stderr
    assert b"worker process 0 of 2 failed" in stderr
    assert not Path(f"/proc/{children[1]}").exists(), "the other worker was left running"


def _wait_for_children(pid: int, count: int) -> list[int]:
    """The pids of a process's children, once it has `count` of them."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(p) for p in (task / "children").read_text().split()]
        python = [p for p in found if "pulse.cli" in _cmdline(p)]
        if len(python) >= count:
            return sorted(python, key=lambda p: _cmdline(p))
        time.sleep(0.1)
    pytest.fail(f"process {pid} did not start {count} workers")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _states(client: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    keys = sorted(k for k in client.scan_iter(match=f"{prefix}:{{c:*}}:s"))
    return dict(zip(keys, client.mget(keys), strict=True))
