"""`pulse replay --compare`: the same events under two rule sets, matched trigger by trigger."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis
from rich.console import Console

from pulse.cli import main
from pulse.compare import Comparison, compare_replays
from pulse.compare_html import render_html
from pulse.compare_report import print_comparison
from pulse.config import RunConfig
from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.report import RunReport, run_flow
from pulse.rules import default_rules_path

EVENTS = Path(__file__).parent / "data" / "abandon_shift.jsonl"
"""Hand-written: under a 30m -> 60m `abandon_cart`, three carts fire 30 minutes later
(`shifted1..3`), one re-armed by a later add fires 80 minutes later (`later1`), two
are bought or checked out between 30 and 60 minutes (`removed1`, `removed2`), one is
bought within 30 minutes (`never1`), and one signup's `welcome` does not change."""


@pytest.fixture
def rules_60m(tmp_path: Path) -> Path:
    text = default_rules_path().read_text()
    assert text.count("after: 30m") == 1
    path = tmp_path / "new.yaml"
    path.write_text(text.replace("after: 30m", "after: 60m"))
    return path


def run_side(config: RunConfig, label: str) -> tuple[int, float, dict[str, int]]:
    report = RunReport(config)
    run_flow(config, report)
    return report.events, report.elapsed_s, dict(report.totals)


def compare(redis_url: str, prefix: str, tmp_path: Path, new: Path, old: Path) -> Comparison:
    config = RunConfig(
        rules_path=str(new), redis_url=redis_url, prefix=prefix, inputs=[str(EVENTS)],
        show_console=False, dead_letters_path=str(tmp_path / "dead.jsonl"),
    )  # fmt: skip
    return compare_replays(config, str(old), run_side)


def test_abandon_cart_30m_to_60m_reports_shifted_removed_and_added_counts(
    redis_url: str, prefix: str, tmp_path: Path, rules_60m: Path
) -> None:
    result = compare(redis_url, prefix, tmp_path, rules_60m, default_rules_path())
    changes = {c.trigger: c for c in result.triggers}
    abandon = changes["abandon_cart"]
    assert (abandon.before, abandon.after) == (6, 4)
    assert (abandon.same, abandon.shifted, abandon.added, abandon.removed) == (0, 4, 0, 2)
    assert abandon.shift_median_s == 1800.0  # three of four carts: exactly 30 minutes
    assert abandon.shift_p90_s == 3900.0  # between +30m and later1's +80m
    assert (abandon.shift_min_s, abandon.shift_max_s) == (1800.0, 4800.0)
    assert {s.contact for s in abandon.samples["removed"]} == {"removed1", "removed2"}
    shifted = {s.contact: s.shift_s for s in abandon.samples["shifted"]}
    assert shifted == {"shifted1": 1800.0, "shifted2": 1800.0, "shifted3": 1800.0,
                       "later1": 4800.0}  # fmt: skip
    welcome = changes["welcome"]
    assert (welcome.before, welcome.after, welcome.same) == (1, 1, 1)
    assert result.before.events == result.after.events == 13
    assert result.before.rules_version != result.after.rules_version


def test_same_rules_compare_as_unchanged_with_identical_distributions(
    redis_url: str, prefix: str, tmp_path: Path
) -> None:
    rules = default_rules_path()
    result = compare(redis_url, prefix, tmp_path, rules, rules)
    for change in result.triggers:
        assert change.before == change.after == change.same
        assert change.added == change.removed == change.shifted == 0
    assert result.scores.before == result.scores.after
    assert all(before == after for before, after in result.stages.values())
    assert result.stage_moves == {} and result.score_changes["up"] == 0


def test_each_side_runs_under_its_own_prefix_and_both_are_deleted(
    redis_url: str, prefix: str, tmp_path: Path, rules_60m: Path
) -> None:
    result = compare(redis_url, prefix, tmp_path, rules_60m, default_rules_path())
    assert result.before.prefix != result.after.prefix
    assert result.before.prefix.startswith(prefix) and result.after.prefix.startswith(prefix)
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match=f"{prefix}*")) == []


def test_stage_distribution_counts_every_contact_once_per_side(
    redis_url: str, prefix: str, tmp_path: Path, rules_60m: Path
) -> None:
    result = compare(redis_url, prefix, tmp_path, rules_60m, default_rules_path())
    contacts = {orjson.loads(line)["contact_id"] for line in EVENTS.read_bytes().splitlines()}
    assert sum(b for b, _ in result.stages.values()) == len(contacts)
    assert sum(a for _, a in result.stages.values()) == len(contacts)
    assert sum(result.scores.before) == sum(result.scores.after) == len(contacts)


def test_cli_writes_json_for_ci_and_a_self_contained_html_page(
    redis_url: str, tmp_path: Path, rules_60m: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_path, html_path = tmp_path / "cmp.json", tmp_path / "cmp.html"
    status = main([
        "replay", str(EVENTS), "--rules", str(rules_60m), "--compare", str(default_rules_path()),
        "--redis-url", redis_url, "--json", str(json_path), "--html", str(html_path),
        "--dead-letters", str(tmp_path / "dead.jsonl"),
    ])  # fmt: skip
    assert status == 0
    out, _ = capsys.readouterr()
    assert "abandon_cart" in out and "+30m" in out and "+1h5m" in out
    data = orjson.loads(json_path.read_bytes())
    abandon = next(t for t in data["triggers"] if t["trigger"] == "abandon_cart")
    assert (abandon["shifted"], abandon["removed"], abandon["added"]) == (4, 2, 0)
    page = html_path.read_text()
    assert page.count("<svg") == 3 and "<script" not in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    assert "removed1" in page and "abandon_cart" in page


def test_cli_json_to_stdout_keeps_stdout_pure_json(
    redis_url: str, tmp_path: Path, rules_60m: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main([
        "replay", str(EVENTS), "--rules", str(rules_60m), "--compare", str(default_rules_path()),
        "--redis-url", redis_url, "--json", "--dead-letters", str(tmp_path / "dead.jsonl"),
    ])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0
    assert orjson.loads(out)["after"]["rules_path"] == str(rules_60m)
    assert "triggers (matched by trigger_id" in err


def test_compare_reports_each_sides_lift_per_trigger_and_variant(
    redis_url: str, prefix: str, tmp_path: Path, rules_60m: Path
) -> None:
    events = tmp_path / "planted.jsonl"
    write_jsonl(GeneratorConfig(contacts=400, events=8_000, span_days=60, seed=4), events)
    config = RunConfig(
        rules_path=str(rules_60m), redis_url=redis_url, prefix=prefix, inputs=[str(events)],
        show_console=False, dead_letters_path=str(tmp_path / "dead.jsonl"),
    )  # fmt: skip

    result = compare_replays(config, str(default_rules_path()), run_side)

    lift = {(c.trigger, c.variant): c for c in result.lift}
    abandon = lift[("abandon_cart", "")]
    assert abandon.before is not None and abandon.after is not None
    # Each side's figures are that run's own lift counters.
    for row, side in ((abandon.before, result.before), (abandon.after, result.after)):
        assert row.sent.exposed == side.counters["lift:abandon_cart::sent:exposed"]
        assert row.held_out.exposed == side.counters["lift:abandon_cart::held_out:exposed"]
        assert row.sent.exposed > 0 and row.held_out.exposed > 0
    out = Console(record=True, width=200)
    print_comparison(result, out)
    text = out.export_text()
    assert "lift: sent vs held out, before -> after" in text
    assert f"{abandon.before.sent.exposed:,} -> {abandon.after.sent.exposed:,}" in text
    page = render_html(result)
    assert "Lift: sent vs held out" in page
