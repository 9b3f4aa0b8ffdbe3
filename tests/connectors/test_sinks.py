"""The console sink's line for a trigger."""

from __future__ import annotations

from pulse.connectors.sinks import format_trigger
from pulse.triggers import Trigger


def _trigger(reason: dict[str, object]) -> Trigger:
    return Trigger(
        trigger_id="t1",
        trigger="sales_ready",
        kind="sales_ready",
        contact_id="c1",
        ts="2026-01-05T10:00:00.000Z",
        ts_ms=1_767_607_200_000,
        score=42.0,
        stage="decision",
        channel=None,
        rules_version="v1",
        reason=reason,
    )


def test_console_line_of_a_trigger_while_the_model_has_no_probability_omits_it() -> None:
    line = format_trigger(_trigger({"model_p": None, "rule": "sales_ready"}))
    assert "p=" not in line
    assert "rule=sales_ready" in line


def test_console_line_shows_the_model_probability_when_there_is_one() -> None:
    assert "p=0.37" in format_trigger(_trigger({"model_p": 0.3712}))
