"""What `pulse run` and `pulse replay` print, on a terminal and on a pipe.

On a terminal (a real pseudo-terminal here): `pulse run` draws a compact live
summary and `pulse replay` a progress bar with percent and ETA. On a pipe (CI):
no control characters, no trigger lines unless `--show`, only the final summary.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pulse.connectors.generator import GeneratorConfig, generate_lines

pytestmark = pytest.mark.integration

_ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    with path.open("wb") as out:
        for line in generate_lines(GeneratorConfig(contacts=500, events=12_000)):
            out.write(line + b"\n")
    return path


def pulse_args(redis_url: str, prefix: str, tmp_path: Path) -> list[str]:
    return [
        "--redis-url", redis_url, "--prefix", prefix,
        "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip


def on_a_pipe(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(
        [sys.executable, "-m", "pulse.cli", *argv], capture_output=True, timeout=240
    )
    assert result.returncode == 0, result.stderr.decode()
    return result


def on_a_terminal(argv: list[str]) -> str:
    """Everything `pulse ARGV` wrote to its terminal, escape sequences removed, each
    in-place redraw (carriage return) on a line of its own."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "pulse.cli", *argv],
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert process.wait(timeout=240) == 0, b"".join(chunks).decode(errors="replace")
    return _ESCAPE.sub(b"", b"".join(chunks)).replace(b"\r", b"\n").decode(errors="replace")


def test_run_on_a_pipe_prints_the_summary_only(
    events_file: Path, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    result = on_a_pipe(["run", "-i", str(events_file), *pulse_args(redis_url, prefix, tmp_path)])
    assert result.stdout == b""  # no trigger lines
    assert b"\x1b" not in result.stderr and b"\r" not in result.stderr
    assert b"processed 12,000 events" in result.stderr


def test_run_with_show_prints_every_trigger_line(
    events_file: Path, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    triggers = tmp_path / "triggers.jsonl"
    argv = ["run", "-i", str(events_file), "--show", "--triggers", str(triggers)]
    result = on_a_pipe([*argv, *pulse_args(redis_url, prefix, tmp_path)])
    fired = triggers.read_bytes().count(b"\n")
    assert fired > 100
    assert result.stdout.count(b"\n") == fired


def test_replay_on_a_pipe_draws_no_progress_bar(
    events_file: Path, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    result = on_a_pipe(["replay", str(events_file), *pulse_args(redis_url, prefix, tmp_path)])
    assert b"\x1b" not in result.stderr and b"\r" not in result.stderr
    assert b"ETA" not in result.stderr
    assert b"processed 12,000 events" in result.stderr


def test_replay_on_a_terminal_shows_percent_and_eta(
    events_file: Path, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    shown = on_a_terminal(["replay", str(events_file), *pulse_args(redis_url, prefix, tmp_path)])
    percents = {int(p) for p in re.findall(r"(\d+)% ETA", shown)}
    # The bar is redrawn while the run goes (the input's bytes read), not only at its end.
    assert any(0 < p < 100 for p in percents), shown
    assert "processed 12,000 events" in shown


def test_run_on_a_terminal_shows_the_live_summary(
    events_file: Path, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    shown = on_a_terminal(["run", "-i", str(events_file), *pulse_args(redis_url, prefix, tmp_path)])
    assert re.search(r"trigger +sent +deferred +suppressed +held_out +total", shown), shown
    counts = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) triggers, \d+s", shown)]
    assert counts and max(counts) > 0, shown
    assert "processed 12,000 events" in shown
