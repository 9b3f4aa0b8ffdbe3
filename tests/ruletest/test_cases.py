"""Loading rule test files (`pulse.ruletest`): relative times, shared settings, errors."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pulse.errors import ConfigError
from pulse.events import parse_ts
from pulse.rules import default_rules_path, load_rules, trigger_kind
from pulse.ruletest import find_cases, load_cases, parse_when

SHIPPED = default_rules_path().parent / "tests"


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_relative_times_count_from_start() -> None:
    start = parse_ts("2026-01-05T10:00:00Z")
    assert parse_when("+1h30m", start) == start + 90 * 60_000
    assert parse_when("-5m", start) == start - 5 * 60_000
    assert parse_when("2026-01-05T11:00:00Z", start) == start + 3_600_000


def test_single_case_file_takes_shared_settings_and_numbers_event_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "start: 2026-01-05T10:00:00Z\ncontact: c1\nuntil: +1h\n"
        "events:\n  - {at: +0m, type: signup}\n  - {at: +2m, type: login, contact: c2}\n"
        "expect:\n  triggers: [[welcome, c1, +0m]]\n",
    )
    (case,) = load_cases(path)
    start = parse_ts("2026-01-05T10:00:00Z")
    assert case.until_ms == start + 3_600_000
    first, second = (orjson.loads(line) for line in case.events)
    assert first == {"event_id": "case-0-0", "type": "signup", "ts": start, "contact_id": "c1"}
    assert second["contact_id"] == "c2" and second["ts"] == start + 120_000
    assert case.triggers is not None and case.triggers[0].ts_ms == start
    assert case.rules_text == default_rules_path().read_text()


def test_rules_patch_and_rules_override_change_the_rules_text(tmp_path: Path) -> None:
    other = write(tmp_path, default_rules_path().read_text().replace("30m", "45m"), "other.yaml")
    path = write(
        tmp_path,
        "rules_patch: {'after: 45m': 'after: 50m'}\n"
        "events: [{type: signup}]\nexpect: {triggers: []}\n",
    )
    (case,) = load_cases(path, rules_override=other)
    assert "after: 50m" in case.rules_text and case.rules_source == str(other)


def test_unknown_field_in_a_test_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "events: [{type: signup, when: +1m}]\nexpect: {}\n")
    with pytest.raises(ConfigError, match=r"unknown field `when` - at `\$.cases\[0\].events\[0\]`"):
        load_cases(path)


def test_patch_target_missing_from_the_rules_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "rules_patch: {nowhere: x}\nevents: []\nexpect: {}\n")
    with pytest.raises(ConfigError, match="`rules_patch` target `nowhere`"):
        load_cases(path)


def test_bad_relative_time_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "events: [{type: signup, at: +thirty}]\nexpect: {}\n")
    with pytest.raises(ConfigError, match="thirty"):
        load_cases(path)


def test_shipped_rule_tests_cover_every_trigger_of_the_default_pack() -> None:
    names = {spec.name for spec in load_rules(default_rules_path()).triggers}
    kinds = {trigger_kind(spec) for spec in load_rules(default_rules_path()).triggers}
    expected: set[str] = set()
    for path in find_cases([SHIPPED]):
        for case in load_cases(path):
            expected |= {t.trigger for t in case.triggers or []}
    assert names <= expected and len(kinds) == 8
