"""Hot reload under a running flow: swapped between batches, nothing lost or counted twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis

from pulse.batch import SourceBatch
from pulse.engine import Engine
from pulse.events import decode_event
from pulse.rules import default_rules_path, parse_rules
from pulse.state import ContactStore, KeyLayout, connect

DEFAULT = default_rules_path().read_text()
SMS = DEFAULT.replace("  - kind: welcome\n    event: signup\n    channel: email",
                      "  - kind: welcome\n    event: signup\n    channel: sms")  # fmt: skip
BROKEN = DEFAULT.replace("threshold: 60", "threshold: sixty")
WAIT_S = 60.0
"""Readiness deadline (process start, a reload noticed): waiting, never a timing assertion."""


def replace_file(path: Path, text: str) -> None:
    """Write atomically, as editors and deploy tools do (a new inode)."""
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text)
    os.replace(scratch, path)


class LiveRun:
    """`pulse run --live -i -` in a subprocess, fed events on standard input."""

    def __init__(self, process: subprocess.Popen[bytes], tmp_path: Path) -> None:
        self.process = process
        self.triggers_path = tmp_path / "triggers.jsonl"
        self.log_path = tmp_path / "run.log"
        self.sent = 0

    def send_signups(self, contacts: list[str]) -> None:
        assert self.process.stdin is not None
        now = int(time.time() * 1000)
        for contact in contacts:
            event = {"event_id": f"{contact}-{self.sent}", "type": "signup", "ts": now,
                     "contact_id": contact}  # fmt: skip
            self.process.stdin.write(orjson.dumps(event) + b"\n")
            self.sent += 1
        self.process.stdin.flush()

    def triggers(self) -> list[dict[str, object]]:
        if not self.triggers_path.exists():
            return []
        # Read while the flow writes: a last line without its newline is not written yet.
        data = self.triggers_path.read_bytes()
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        return [orjson.loads(line) for line in lines if line.strip()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, what: str, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"gave up waiting for {what}\n{self.log()}")

    def finish(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        return self.process.wait(timeout=60)


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT)
    return path


@pytest.fixture
def start_run(
    tmp_path: Path, rules_path: Path, redis_url: str, prefix: str
) -> Iterator[Callable[..., LiveRun]]:
    runs: list[LiveRun] = []

    def start(*extra: str) -> LiveRun:
        command = [
            sys.executable, "-m", "pulse.cli", "run", "--live", "-i", "-", "--quiet",
            "--rules", str(rules_path), "--redis-url", redis_url, "--prefix", prefix,
            "--triggers", str(tmp_path / "triggers.jsonl"), "--reload-poll", "0.2",
            "--dead-letters", str(tmp_path / "dead.jsonl"), *extra,
        ]  # fmt: skip
        log = (tmp_path / "run.log").open("wb")
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=log, stderr=log)
        log.close()
        runs.append(LiveRun(process, tmp_path))
        return runs[-1]

    yield start
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


def stats(redis_url: str, prefix: str) -> dict[str, int]:
    raw = redis.Redis.from_url(redis_url).hgetall(KeyLayout(prefix).stats)
    return {k.decode(): int(v) for k, v in raw.items()}


def test_valid_rules_swap_mid_stream_loses_and_double_counts_nothing(
    start_run: Callable[..., LiveRun], rules_path: Path, redis_url: str, prefix: str
) -> None:
    old, new = parse_rules(DEFAULT).version, parse_rules(SMS).version
    run = start_run()
    run.send_signups([f"a{i}" for i in range(40)])
    run.wait_until("40 welcomes", lambda: len(run.triggers()) == 40)

    replace_file(rules_path, SMS)
    run.wait_until("the reload", lambda: f"rules reloaded: version {old} -> {new}" in run.log())
    # `a0..a19` sign up again: their state carried over, so no second welcome.
    run.send_signups([f"b{i}" for i in range(40)] + [f"a{i}" for i in range(20)])
    run.wait_until("80 welcomes", lambda: len(run.triggers()) >= 80)
    assert run.finish() == 0, run.log()

    triggers = run.triggers()
    assert len(triggers) == 80 == len({t["trigger_id"] for t in triggers})
    by_contact = {str(t["contact_id"]): t for t in triggers}
    assert all(by_contact[f"a{i}"]["rules_version"] == old for i in range(40))
    assert all(by_contact[f"a{i}"]["channel"] == "email" for i in range(40))
    assert all(by_contact[f"b{i}"]["rules_version"] == new for i in range(40))
    assert all(by_contact[f"b{i}"]["channel"] == "sms" for i in range(40))
    counters = stats(redis_url, prefix)
    assert counters["events"] == run.sent == 100
    assert counters["triggers"] == counters["trigger:welcome"] == 80
    assert counters.get("duplicates", 0) == 0


def test_swap_while_events_stream_in_switches_version_once_in_arrival_order(
    start_run: Callable[..., LiveRun], rules_path: Path, redis_url: str, prefix: str
) -> None:
    old, new = parse_rules(DEFAULT).version, parse_rules(SMS).version
    run = start_run()
    reloaded = threading.Event()
    sent: list[str] = []

    def write() -> None:
        """Signups in chunks, on and on, until ten chunks after the reload was noticed."""
        after = 0
        while after < 10:
            chunk = [f"s{len(sent) + i:05d}" for i in range(50)]
            run.send_signups(chunk)
            sent.extend(chunk)
            after += reloaded.is_set()
            time.sleep(0.02)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        run.wait_until("the first welcomes", lambda: len(run.triggers()) >= 200)
        replace_file(rules_path, SMS)  # while the writer keeps sending
        run.wait_until("the reload", lambda: f"-> {new}" in run.log())
    finally:
        reloaded.set()
        writer.join()
    run.wait_until("every welcome", lambda: len(run.triggers()) >= len(sent))
    assert run.finish() == 0, run.log()

    triggers = run.triggers()
    assert len(triggers) == len(sent) == len({t["trigger_id"] for t in triggers})
    # One stdin partition, in order: the version switches once, at a batch boundary.
    versions = [t["rules_version"] for t in sorted(triggers, key=lambda t: str(t["contact_id"]))]
    switch = versions.index(new)
    assert switch > 0 and versions == [old] * switch + [new] * (len(sent) - switch)
    counters = stats(redis_url, prefix)
    assert counters["events"] == counters["trigger:welcome"] == len(sent)


def test_invalid_rules_are_refused_and_the_old_rules_keep_running(
    start_run: Callable[..., LiveRun], rules_path: Path, redis_url: str, prefix: str
) -> None:
    old = parse_rules(DEFAULT).version
    run = start_run()
    run.send_signups(["a0"])
    run.wait_until("the first welcome", lambda: len(run.triggers()) == 1)

    replace_file(rules_path, BROKEN)
    run.wait_until("the refusal", lambda: "rules reload refused" in run.log())
    run.send_signups([f"b{i}" for i in range(10)])
    run.wait_until("11 welcomes", lambda: len(run.triggers()) == 11)
    assert run.finish() == 0, run.log()

    assert {t["rules_version"] for t in run.triggers()} == {old}
    assert "`$.triggers[3].threshold`" in run.log() and f"keeping version {old}" in run.log()
    assert stats(redis_url, prefix)["events"] == 11


@pytest.mark.parametrize(
    "hostile",
    [
        ("scoring:\n  rules: " + "[" * 1000 + "]" * 1000 + "\n").encode(),
        DEFAULT.replace("total_cap: 200", "total_cap: .nan").encode(),
        DEFAULT.replace("name: default-ecommerce", "name: caf\xe9").encode("latin-1"),
    ],
    ids=["nested-1000-deep", "nan", "not-utf8"],
)
def test_hostile_rules_are_refused_and_the_running_flow_goes_on(
    start_run: Callable[..., LiveRun], rules_path: Path, redis_url: str, prefix: str,
    hostile: bytes,
) -> None:  # fmt: skip
    old = parse_rules(DEFAULT).version
    run = start_run()
    run.send_signups(["a0"])
    run.wait_until("the first welcome", lambda: len(run.triggers()) == 1)

    scratch = rules_path.with_suffix(".tmp")
    scratch.write_bytes(hostile)
    os.replace(scratch, rules_path)
    run.wait_until("the refusal", lambda: "rules reload refused" in run.log())
    run.send_signups([f"b{i}" for i in range(10)])
    run.wait_until("11 welcomes", lambda: len(run.triggers()) == 11)
    assert run.finish() == 0, run.log()

    assert {t["rules_version"] for t in run.triggers()} == {old}
    assert "Traceback" not in run.log() and f"keeping version {old}" in run.log()
    assert stats(redis_url, prefix)["events"] == 11


def test_sighup_reloads_when_polling_is_off(
    start_run: Callable[..., LiveRun], rules_path: Path
) -> None:
    new = parse_rules(SMS).version
    run = start_run("--reload-poll", "0")
    run.send_signups(["a0"])
    run.wait_until("the first welcome", lambda: len(run.triggers()) == 1)

    replace_file(rules_path, SMS)
    run.process.send_signal(signal.SIGHUP)
    run.wait_until("the reload", lambda: f"-> {new}" in run.log())
    run.send_signups(["b0"])
    run.wait_until("2 welcomes", lambda: len(run.triggers()) == 2)
    assert run.finish() == 0, run.log()
    assert [t["rules_version"] for t in run.triggers()][-1] == new


def test_engine_swap_keeps_contact_state_and_stamps_the_new_version(
    redis_url: str, prefix: str
) -> None:
    old, new = parse_rules(DEFAULT), parse_rules(SMS)
    engine = Engine(old, ContactStore(connect(redis_url), KeyLayout(prefix)))

    def batch(*lines: bytes) -> SourceBatch:
        events = [decode_event(line) for line in lines]
        return SourceBatch(partition="p", events=events, watermark_ms=0)

    first = engine.process([batch(b'{"event_id":"1","type":"signup","ts":1767607200000,'
                                  b'"contact_id":"c1"}')])  # fmt: skip
    engine.swap_rules(new)
    second = engine.process([
        batch(b'{"event_id":"2","type":"signup","ts":1767607260000,"contact_id":"c1"}',
              b'{"event_id":"3","type":"signup","ts":1767607260000,"contact_id":"c2"}'),
    ])  # fmt: skip
    assert [t.rules_version for t in first] == [old.version]  # type: ignore[union-attr]
    assert [(t.contact_id, t.rules_version) for t in second] == [  # type: ignore[union-attr]
        ("c2", new.version)
    ]
