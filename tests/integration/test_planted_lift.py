"""Generator truth: the lift the generator plants is the lift pulse measures (#14 part 5).

The generator makes abandoners that pulse holds out of `abandon_cart` come back and buy
less often, by a configured amount, deciding who is held out with the same stable hash
as pulse. Replaying that stream through the real dataflow, the lift `pulse report`
shows must hold the planted value inside its 95 % interval, and exclude zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pulse.cli import main
from pulse.config import GeneratorConfig
from pulse.connectors.generator import write_jsonl
from pulse.rules import default_rules_path

pytestmark = pytest.mark.integration

PLANTED_LIFT = 0.2
HOLDOUT = 0.5
"""Half the abandoners held out: the most power for a given stream."""


def _rules() -> str:
    text = default_rules_path().read_text()
    cart = "    holdout: 0.1\n    variants: []"
    assert cart in text
    return text.replace(cart, f"    holdout: {HOLDOUT}\n    variants: []")


def test_report_recovers_the_planted_lift_within_its_interval(
    replay, redis_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.jsonl"
    config = GeneratorConfig(
        contacts=3_000, events=60_000, span_days=60, skew=0.0,
        planted_lift=PLANTED_LIFT, planted_holdout=HOLDOUT,
    )  # fmt: skip
    write_jsonl(config, events)
    replay(events, rules=_rules())
    capsys.readouterr()

    assert main(["report", "--redis-url", redis_url, "--prefix", prefix, "--json"]) == 0

    rows = {row["trigger"]: row for row in json.loads(capsys.readouterr().out)["lift"]}
    cart = rows["abandon_cart"]
    assert cart["held_out"]["exposed"] > 150 and cart["sent"]["exposed"] > 150
    assert cart["low"] <= PLANTED_LIFT <= cart["high"], cart
    assert cart["low"] > 0, cart
