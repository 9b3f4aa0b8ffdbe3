"""`pulse replay --compare` per point rule, re-armed `sales_ready` pairing, rules diff (#16)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pulse.cli import main
from pulse.compare import Comparison, compare_replays
from pulse.config import RunConfig
from pulse.report import RunReport, run_flow
from pulse.rules import default_rules_path

T0 = 1_767_607_200_000  # 2026-01-05T10:00:00Z
MINUTE = 60_000


def write_events(path: Path) -> Path:
    """`s1`: webinar, form, two checkouts; crosses 60 at +4m under the default pack."""
    events = [
        ("webinar_attended", 0, {}),
        ("form_submit", 1, {}),
        ("checkout_started", 2, {}),
        ("checkout_started", 4, {}),
        ("product_view", 5, {"product_id": "p1", "price": 100.0}),
    ]
    lines = [
        orjson.dumps({"event_id": f"e{i}", "type": type_, "ts": T0 + minute * MINUTE,
                      "contact_id": "s1", "props": props})
        for i, (type_, minute, props) in enumerate(events)
    ]  # fmt: skip
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture
def new_rules(tmp_path: Path) -> Path:
    """Form worth 45 (crossing at +1m, on the form) and a rule no event matches."""
    path = tmp_path / "new.yaml"
    path.write_text(
        "extends: default\nscoring:\n  rules:\n"
        "    - {event: form_submit, points: 45, cap: 90}\n"
        "    - {name: luxury_product_view, event: product_view, points: 5,"
        ' when: "double(props.price) > 500.0"}\n'
    )
    return path


def run_side(config: RunConfig, label: str) -> tuple[int, float, dict[str, int]]:
    report = RunReport(config)
    run_flow(config, report)
    return report.events, report.elapsed_s, dict(report.totals)


def compare(redis_url: str, prefix: str, tmp_path: Path, new: Path) -> Comparison:
    config = RunConfig(
        rules_path=str(new), redis_url=redis_url, prefix=prefix,
        inputs=[str(write_events(tmp_path / "events.jsonl"))], show_console=False,
        dead_letters_path=str(tmp_path / "dead.jsonl"),
    )  # fmt: skip
    return compare_replays(config, str(default_rules_path()), run_side)


def test_sales_ready_crossing_on_an_earlier_event_is_shifted_not_removed_and_added(
    redis_url: str, prefix: str, tmp_path: Path, new_rules: Path
) -> None:
    result = compare(redis_url, prefix, tmp_path, new_rules)
    sales = next(c for c in result.triggers if c.trigger == "sales_ready")
    assert (sales.before, sales.after, sales.added, sales.removed) == (1, 1, 0, 0)
    assert (sales.shifted, sales.rearmed, sales.shift_median_s) == (1, 1, -180.0)
    (sample,) = sales.samples["shifted"]
    assert sample.contact == "s1" and sample.after_trigger_id != sample.trigger_id


def test_per_rule_statistics_before_and_after_and_the_rule_that_matched_nothing(
    redis_url: str, prefix: str, tmp_path: Path, new_rules: Path
) -> None:
    result = compare(redis_url, prefix, tmp_path, new_rules)
    rules = {r.rule: r for r in result.rules}
    form = rules["form_submit"]
    assert form.before is not None and form.after is not None
    assert (form.before.hits, form.before.points, form.after.points) == (1, 12.0, 45.0)
    # The crossing: on the second checkout before, on the form after.
    assert (form.before.triggers, form.after.triggers) == (0, 1)
    assert (
        rules["checkout_started"].before.triggers,
        rules["checkout_started"].after.triggers,
    ) == (
        1,
        0,
    )  # type: ignore[union-attr]
    assert rules["checkout_started"].before.hits == 2  # type: ignore[union-attr]
    luxury = rules["luxury_product_view"]
    assert luxury.before is None and luxury.after is not None and luxury.after.hits == 0
    assert rules["product_view"].after.hits == 1  # type: ignore[union-attr]
    assert any("+    - {event: form_submit" in line for line in result.rules_diff)


def test_cli_page_and_terminal_show_rules_diff_zero_hit_warning_and_explain_commands(
    redis_url: str, tmp_path: Path, new_rules: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = write_events(tmp_path / "events.jsonl")
    html_path, json_path = tmp_path / "cmp.html", tmp_path / "cmp.json"
    status = main([
        "replay", str(events), "--rules", str(new_rules), "--compare", str(default_rules_path()),
        "--redis-url", redis_url, "--keep-keys", "--html", str(html_path), "--json",
        str(json_path), "--dead-letters", str(tmp_path / "dead.jsonl"),
    ])  # fmt: skip
    assert status == 0
    out, err = capsys.readouterr()
    assert "`luxury_product_view` matched 0 events" in out
    assert "rules diff" in out and "re-armed" in out
    page = html_path.read_text()
    assert "<h2>Rules diff</h2>" in page and "luxury_product_view" in page
    after_prefix = orjson.loads(json_path.read_bytes())["after"]["prefix"]
    assert f"pulse explain s1 --prefix {after_prefix} --redis-url" in page
    assert "kept" in err and after_prefix in err
