"""Per-rule statistics of a run (#16): counted by the journey, committed to Redis, shown."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.integration.test_compare_rules import write_events

from pulse.cli import main


@pytest.fixture
def luxury_rules(tmp_path: Path) -> Path:
    path = tmp_path / "lux.yaml"
    path.write_text(
        "extends: default\nscoring:\n  rules:\n"
        "    - {name: luxury_product_view, event: product_view, points: 5,"
        ' when: "double(props.price) > 500.0"}\n'
    )
    return path


def replay_json(
    redis_url: str, prefix: str, tmp_path: Path, rules: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, dict[str, object]], dict[str, object], str]:
    events = write_events(tmp_path / "events.jsonl")
    status = main([
        "replay", str(events), "--rules", str(rules), "--redis-url", redis_url,
        "--prefix", prefix, "--json", "--dead-letters", str(tmp_path / "dead.jsonl"),
    ])  # fmt: skip
    assert status == 0
    out, err = capsys.readouterr()
    data = orjson.loads(out)
    return {r["rule"]: r for r in data["rules"]}, data, err


def test_replay_json_counts_matches_points_stage_moves_and_the_crossing_per_rule(
    redis_url: str, prefix: str, tmp_path: Path, luxury_rules: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    rules, data, _ = replay_json(redis_url, prefix, tmp_path, luxury_rules, capsys)
    assert rules["webinar_attended"] == {
        "rule": "webinar_attended", "event": "webinar_attended", "hits": 1, "points": 20.0,
        "stage_moves": 1, "triggers": 0,  # awareness -> consideration
    }  # fmt: skip
    assert rules["form_submit"]["points"] == 12.0 and rules["form_submit"]["stage_moves"] == 0
    # 20 + 12 + 15 + 15 = 62 (a little decayed) on the second checkout: it caused the crossing.
    assert (rules["checkout_started"]["hits"], rules["checkout_started"]["points"]) == (2, 30.0)
    assert rules["checkout_started"]["triggers"] == 1
    assert rules["product_view"]["hits"] == 1 and rules["luxury_product_view"]["hits"] == 0
    assert data["counters"]["trigger:sales_ready"] == 1
    assert "`luxury_product_view` matched 0 events (event `product_view`)" in data["zero_hit_rules"]


def test_replay_summary_lists_every_rule_and_flags_the_one_that_matched_nothing(
    redis_url: str, prefix: str, tmp_path: Path, luxury_rules: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _, _, err = replay_json(redis_url, prefix, tmp_path, luxury_rules, capsys)
    assert "point rules" in err
    assert "warning: `luxury_product_view` matched 0 events" in err.replace("\n", " ")
