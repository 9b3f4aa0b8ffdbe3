"""Option values that used to be ignored or to hang are refused up front, with exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.cli import main


@pytest.fixture(autouse=True)
def short_redis_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that wrongly reached Redis fails in a second instead of retrying for a minute."""
    monkeypatch.setenv("PULSE_REDIS_RETRY_S", "1")
    monkeypatch.delenv("PULSE_REDIS_URL", raising=False)


def run_status(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and standard error of `pulse ARGV`, whether argparse or pulse refuses it."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse refuses a bad value itself
        status = int(exc.code or 0)
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--batch-size", "0"], "argument --batch-size: Expected a whole number >= 1"),
        (["replay", "x.jsonl", "--batch-size", "-5"], "Expected a whole number >= 1, got `-5`"),
        (
            ["run", "--reload-poll", "-1"],
            "argument --reload-poll: Expected a number of seconds >= 0",
        ),
        (["run", "--snapshot-interval", "0"], "Expected a number of seconds > 0, got `0`"),
        (["run", "--lag-log-interval", "nan"], "Expected a number of seconds > 0, got `nan`"),
        (
            ["run", "--redis-retry-s", "-1"],
            "argument --redis-retry-s: Expected a number of seconds",
        ),
    ],
)
def test_bad_number_is_refused_by_name(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run_status(argv, capsys)
    assert status == 2
    assert expected in err


def test_topic_without_kafka_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_status(["run", "--topic", "clicks"], capsys)
    assert (status, err) == (2, "pulse: `--topic` needs `--kafka BOOTSTRAP`\n")


def test_until_with_standard_input_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_status(["run", "-i", "-", "--until", "2026-01-01T00:00:00Z"], capsys)
    assert status == 2
    assert err.startswith("pulse: `--until` does not apply to standard input (`-i -`)")


def test_until_with_live_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("")
    argv = ["run", "--live", "-i", str(events), "--until", "2026-01-01T00:00:00Z"]
    status, err = run_status(argv, capsys)
    assert status == 2
    assert "`--until` has no effect with `--live`" in err


def test_unreadable_input_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, err = run_status(["run", "-i", str(tmp_path)], capsys)  # a directory
    assert (status, err) == (2, f"pulse: cannot read input `{tmp_path}`: Is a directory\n")


def test_redis_url_and_url_file_together_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url_file = tmp_path / "url"
    url_file.write_text("redis://127.0.0.1:1/0\n")
    argv = ["replay", __file__, "--redis-url", "redis://x/0", "--redis-url-file", str(url_file)]
    status, err = run_status(argv, capsys)
    assert (status, err) == (2, "pulse: give `--redis-url` or `--redis-url-file`, not both\n")


def test_malformed_redis_url_from_a_file_is_reported_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("")
    url_file = tmp_path / "url"
    url_file.write_text("redis://:hunter2@db:notaport/0\n")
    status, err = run_status(["replay", str(events), "--redis-url-file", str(url_file)], capsys)
    assert status == 2
    assert "hunter2" not in err
    assert err.startswith("pulse: invalid Redis URL `redis://:***@db:notaport/0`")
