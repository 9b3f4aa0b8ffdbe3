"""Metrics settings and labels that need no running flow (`pulse.metrics`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.cli import main
from pulse.metrics import reason_category


def run_status(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and standard error of `pulse ARGV`."""
    try:
        status = main(argv)
    except SystemExit as exc:
        status = int(exc.code or 0)
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("JSON is malformed: expected ':' (byte 9)", "malformed_json"),
        ("Object missing required field `type`", "missing_field"),
        ("event has neither `contact_id` nor `anonymous_id`", "no_contact"),
        ("`ts`: `2026-01-05T10:00:00` has no time zone (add `Z` or `+00:00`)", "bad_ts"),
        ("`props.price`: expected a number, got `'ten'`", "bad_props"),
        ("message has no value (null)", "null_message"),
        ("gzip data of `a.gz` is corrupt or truncated (...)", "corrupt_input"),
        ("`contact_id` holds control character '\\x07'", "control_character"),
        ("a reason nobody wrote yet: c-42 said hello", "other"),
    ],
)
def test_dead_letter_reason_becomes_a_fixed_category(reason: str, category: str) -> None:
    assert reason_category(reason) == category


def test_metrics_port_from_the_environment_must_be_a_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PULSE_METRICS_PORT", "http")
    events = tmp_path / "e.jsonl"
    events.write_text("")
    status, err = run_status(["replay", str(events)], capsys)
    assert status == 2
    assert "`pulse_metrics_port`: expected a port number 0..65535, got `http`" in err.lower()


def test_metrics_port_from_the_environment_is_the_parents_with_several_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pulse.cli import build_parser
    from pulse.cli.options import metrics_port

    monkeypatch.setenv("PULSE_METRICS_PORT", "9109")
    args = build_parser().parse_args(["replay", "e.jsonl", "--workers", "2"])
    assert metrics_port(args)[0] == 9109  # served by the parent, labelled by worker
