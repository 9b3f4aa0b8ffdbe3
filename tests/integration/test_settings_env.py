"""Every `PULSE_*` variable of the README's Settings table is honoured by `pulse replay`
(and `pulse run`): a real run on a small generated file, checked by its effect."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
import redis

from pulse.cli import build_parser, main
from pulse.cli import options as cli_options
from pulse.rules import default_rules_path, load_rules
from pulse.settings import SETTINGS, resolve

pytestmark = pytest.mark.integration

Check = Callable[[subprocess.CompletedProcess[str], Path, redis.Redis], None]


class _Line(msgspec.Struct):
    ts: str | int


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 generated events and one line that is not JSON (for the dead letters)."""
    path = tmp_path_factory.mktemp("settings") / "events.jsonl"
    assert main(["generate", "--events", "300", "--contacts", "30", "-o", str(path)]) == 0
    with path.open("a") as out:
        out.write("this is not json\n")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _replay(
    events: Path, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "pulse.cli", "replay", str(events), *args],
        env={**clean, **env}, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _triggers(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _has_keys(client: redis.Redis, prefix: str) -> bool:
    return any(True for _ in client.scan_iter(match=f"{prefix}:*", count=1000))


def _case(tmp: Path, url: str, prefix: str, name: str) -> tuple[dict[str, str], list[str], Check]:
    """`(environment, extra flags, check)` of the case that sets `name`."""
    base = {"PULSE_REDIS_URL": url, "PULSE_PREFIX": prefix}
    triggers = tmp / "triggers.jsonl"

    def ok(proc: subprocess.CompletedProcess[str]) -> None:
        assert proc.returncode == 0, proc.stderr

    if name == "PULSE_RULES":
        rules = tmp / "rules.yaml"
        text = default_rules_path().read_text()
        rules.write_text(text.replace("name: default-ecommerce", "name: from-the-environment"))
        expected = load_rules(str(rules)).version
        assert expected != load_rules(default_rules_path()).version

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            ok(proc)
            assert {t["rules_version"] for t in _triggers(triggers)} == {expected}

        return {**base, name: str(rules)}, ["--triggers", str(triggers)], check
    if name in ("PULSE_REDIS_URL", "PULSE_PREFIX", "PULSE_CONFIG"):
        chosen = f"{prefix}-{name.lower()}"
        env = {**base}
        if name == "PULSE_PREFIX":
            env[name] = chosen
        elif name == "PULSE_CONFIG":
            del env["PULSE_PREFIX"]
            (tmp / "pulse.toml").write_text(f'prefix = "{chosen}"\nbatch_size = 50\n')
            env[name] = str(tmp / "pulse.toml")
        else:
            env["PULSE_PREFIX"] = chosen

        def check(proc: subprocess.CompletedProcess[str], _: Path, client: redis.Redis) -> None:
            ok(proc)
            assert "private redis-server" not in proc.stderr
            assert _has_keys(client, chosen)

        return env, [], check
    if name == "PULSE_TRIGGERS":

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            ok(proc)
            assert all("trigger_id" in t for t in _triggers(triggers))
            assert _triggers(triggers)

        return {**base, name: str(triggers)}, [], check
    if name == "PULSE_DEAD_LETTERS":
        dead = tmp / "elsewhere" / "dead.jsonl"
        dead.parent.mkdir()

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            ok(proc)
            assert "this is not json" in dead.read_text()

        return {**base, name: str(dead)}, [], check
    if name == "PULSE_UNTIL":

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            ok(proc)
            newest = max(_ts(line) for line in Path(proc.args[4]).read_bytes().splitlines()[:-1])
            # Timers due up to 60 days after the last event fire at end of input.
            assert any(int(str(t["ts_ms"])) > newest for t in _triggers(triggers))

        return {**base, name: "+60d"}, ["--triggers", str(triggers)], check
    if name == "PULSE_REDIS_RETRY_S":

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            assert proc.returncode == 2
            assert "gave up after 0.0 s" in proc.stderr

        dead_url = f"redis://127.0.0.1:{_free_port()}/0"
        return {**base, "PULSE_REDIS_URL": dead_url, name: "0"}, [], check
    if name == "PULSE_METRICS_PORT":
        port = _free_port()

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            ok(proc)
            assert f"serving metrics and health on port {port}" in proc.stderr

        return {**base, name: str(port), "PULSE_LOG_LEVEL": "INFO"}, [], check
    if name == "PULSE_LOG_LEVEL":

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            ok(proc)
            assert re.search(r"(?m) INFO pulse\.metrics: serving metrics", proc.stderr)

        return {**base, name: "info"}, ["--metrics-port", "0"], check
    if name == "PULSE_LOG_FORMAT":

        def check(proc: subprocess.CompletedProcess[str], _: Path, __: redis.Redis) -> None:
            ok(proc)
            records = [json.loads(x) for x in proc.stderr.splitlines() if x.startswith("{")]
            assert records, proc.stderr
            for record in records:
                assert set(record) >= {"ts", "level", "logger", "message"}
            assert not re.search(r"(?m)^\d{4}-\d\d-\d\d .* (INFO|WARNING) ", proc.stderr)

        env = {**base, name: "json", "PULSE_LOG_LEVEL": "INFO"}
        return env, ["--metrics-port", "0"], check
    raise AssertionError(f"no case for {name}")


def _ts(line: bytes) -> int:
    from pulse.events import parse_ts

    return parse_ts(msgspec.json.decode(line, type=_Line).ts)


RUN_CASES = [
    "PULSE_RULES",
    "PULSE_REDIS_URL",
    "PULSE_PREFIX",
    "PULSE_TRIGGERS",
    "PULSE_DEAD_LETTERS",
    "PULSE_UNTIL",
    "PULSE_REDIS_RETRY_S",
    "PULSE_METRICS_PORT",
    "PULSE_LOG_LEVEL",
    "PULSE_LOG_FORMAT",
    "PULSE_CONFIG",
]
CONFIG_CASES = {
    # Seen in what the run is configured with: their effect (batching; a live run's
    # readiness and rules polling) has its own tests.
    "PULSE_BATCH_SIZE": (
        "replay",
        "7",
        lambda args: cli_options.run_config(args, "r", []).batch_size,
        7,
    ),
    "PULSE_READY_WATERMARK_S": ("replay", "5", lambda args: cli_options.metrics_port(args)[1], 5.0),
    "PULSE_RELOAD_POLL_S": ("run", "0", lambda args: args.reload_poll, 0.0),
    "PULSE_INPUT_FORMAT": (
        "replay",
        "segment",
        lambda args: cli_options.run_config(args, "r", []).input_format,
        "segment",
    ),
    "PULSE_MAX_REJECTED_SHARE": ("replay", "0.25", lambda args: args.max_rejected_share, 0.25),
}


def test_every_documented_variable_has_a_case() -> None:
    documented = {s.env for s in SETTINGS} | {"PULSE_CONFIG"}
    assert documented == set(RUN_CASES) | set(CONFIG_CASES)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


@pytest.mark.parametrize("name", RUN_CASES)
def test_replay_honours_the_variable(
    name: str, events: Path, redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    prefix = f"env-{uuid.uuid4().hex[:8]}"
    env, flags, check = _case(tmp_path, redis_url, prefix, name)
    check(_replay(events, tmp_path, env, *flags), tmp_path, client)


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_run_config_honours_the_variable(name: str, events: Path) -> None:
    command, value, read, expected = CONFIG_CASES[name]
    argv = [command, str(events)] if command == "replay" else [command]
    args = build_parser().parse_args(argv)
    resolve(command, args, {name: value})
    assert read(args) == expected


def test_bytewax_run_reads_the_same_settings(
    events: Path, redis_url: str, client: redis.Redis, tmp_path: Path
) -> None:
    prefix = f"flow-{uuid.uuid4().hex[:8]}"
    triggers = tmp_path / "triggers.jsonl"
    config = tmp_path / "pulse.yaml"
    config.write_text(f"prefix: {prefix}\ntriggers: {triggers}\nbatch_size: 100\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    env = {
        **clean,
        "PULSE_CONFIG": str(config),
        "PULSE_REDIS_URL": redis_url,
        "PULSE_INPUT": str(events),
        "PULSE_DEAD_LETTERS": str(tmp_path / "dead.jsonl"),
        "PULSE_RELOAD_POLL_S": "0",
    }
    command = [sys.executable, "-m", "bytewax.run", "dataflows.clickstream:build_flow_from_env()"]
    proc = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert _triggers(triggers)
    assert _has_keys(client, prefix)
