"""Rule tests run for real: the shipped suite passes, failures show a diff, `pulse test` exits 1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis

from pulse.cli import main
from pulse.rules import default_rules_path
from pulse.ruletest import find_cases, load_cases, run_cases

SHIPPED = default_rules_path().parent / "tests"

LATE_EXPECTATION = """\
description: expects abandon_cart a minute late
start: 2026-01-05T10:00:00Z
contact: c1
until: +2h
events:
  - {at: +0m, type: add_to_cart, props: {product_id: p1, price: 20.0}}
expect:
  triggers: [[abandon_cart, c1, +31m]]
  scores: {c1: 9}
  stages: {c1: customer}
"""


def test_shipped_rule_tests_all_pass(redis_url: str) -> None:
    cases = [case for path in find_cases([SHIPPED]) for case in load_cases(path)]
    results = list(run_cases(cases, redis_url))
    failed = {r.id: r.details for r in results if r.outcome != "passed"}
    assert len(results) >= 20 and failed == {}


def test_failing_case_shows_expected_and_fired_triggers_as_a_diff(
    redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(LATE_EXPECTATION)
    (result,) = run_cases(load_cases(path), redis_url)
    assert result.outcome == "failed"
    text = "\n".join(result.details)
    assert re.search(r"- abandon_cart +c1 +\+31m +\(2026-01-05T10:31:00.000Z\)", text)
    assert re.search(r"\+ abandon_cart +c1 +\+30m +\(2026-01-05T10:30:00.000Z\)", text)
    assert "score of `c1` at +2h: expected 9, got 7.967" in text
    assert "stage of `c1`: expected `customer`, got `decision`" in text


def test_event_the_decoder_refuses_fails_the_case(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("events: [{type: add_to_crt, contact: c1}]\nexpect: {triggers: []}\n")
    (result,) = run_cases(load_cases(path), redis_url)
    assert result.outcome == "failed"
    assert any("event refused: unknown event type `add_to_crt`" in d for d in result.details)


def test_invalid_rules_make_the_case_an_error(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules_patch: {'after: 30m': 'after: soon'}\nevents: []\nexpect: {}\n")
    (result,) = run_cases(load_cases(path), redis_url)
    assert result.outcome == "error"
    assert any("duration" in d and "soon" in d for d in result.details)


def test_cases_leave_no_keys_behind(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "late.yaml"
    path.write_text(LATE_EXPECTATION)
    list(run_cases(load_cases(path), redis_url))
    client = redis.Redis.from_url(redis_url)
    assert list(client.scan_iter(match="ruletest-*")) == []


def test_pulse_test_exits_0_on_the_shipped_suite(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["test", str(SHIPPED), "--redis-url", redis_url, "-q"]) == 0
    out, _ = capsys.readouterr()
    assert " passed in " in out and "failed" not in out


def test_pulse_test_exits_1_and_prints_the_failure(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "late.yaml").write_text(LATE_EXPECTATION)
    (tmp_path / "broken.yaml").write_text("events: [{type: signup, colour: red}]\n")
    assert main(["test", str(tmp_path), "--redis-url", redis_url]) == 1
    out, _ = capsys.readouterr()
    assert "late.yaml::late FAILED" in out
    assert "FAILURES" in out and "- abandon_cart" in out
    assert "unknown field `colour`" in out
    assert "1 failed, 1 error" in out


def test_rules_option_runs_the_suite_against_another_rules_file(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slower = tmp_path / "slower.yaml"
    slower.write_text(default_rules_path().read_text().replace("after: 30m", "after: 60m"))
    status = main(["test", str(SHIPPED / "abandon_cart.yaml"), "--rules", str(slower),
                   "--redis-url", redis_url, "-q"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert status == 1
    assert re.search(r"\+ abandon_cart +c1 +\+1h20m", out)


def test_expected_trigger_stage_that_differs_fails_the_case(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "stage.yaml"
    path.write_text(
        "events: [{type: signup, contact: c1}]\n"
        "expect: {triggers: [{trigger: welcome, contact: c1, at: +0s, stage: loyal}]}\n"
    )
    (result,) = run_cases(load_cases(path), redis_url)
    assert result.outcome == "failed"
    assert any("welcome of `c1`: stage expected `loyal`, got `" in d for d in result.details)


TWO_ADDS = """\
description: two adds to cart
start: 2026-01-05T10:00:00Z
contact: c1
events:
  - {at: +0m, type: add_to_cart, props: {product_id: p1, price: 20.0}}
  - {at: +1m, type: add_to_cart, props: {product_id: p2, price: 20.0}}
expect:
  triggers: []
"""


def test_report_counts_what_each_point_rule_matched_and_flags_the_unexercised(
    redis_url: str, tmp_path: Path
) -> None:
    from pulse.ruletest import format_report

    case_file = tmp_path / "two_adds.yaml"
    case_file.write_text(TWO_ADDS)
    results = list(run_cases(load_cases(case_file), redis_url))

    report = format_report(results, 0.1)

    assert re.search(r"^  add_to_cart +2 in 1 case\(s\), \+16\.0 points", report, re.M), report
    assert re.search(r"^  search +0  <- no case exercises it", report, re.MULTILINE), report


def test_cli_runs_the_cases_in_the_redis_a_url_file_names(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url_file = tmp_path / "redis-url"
    url_file.write_text(redis_url)
    case = tmp_path / "case.yaml"
    case.write_text(
        "start: 2026-01-05T10:00:00Z\ncontact: c1\nuntil: +2h\nevents:\n"
        "  - {at: +0m, type: add_to_cart, props: {product_id: p1, price: 20.0}}\n"
        "expect:\n  triggers: [[abandon_cart, c1, +30m]]\n"
    )
    assert main(["test", "-q", str(case), "--redis-url-file", str(url_file)]) == 0
    assert "1 passed" in capsys.readouterr().out
