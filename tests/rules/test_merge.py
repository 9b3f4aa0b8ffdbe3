"""`extends`: a file holding only its changes keeps the rest of a base pack."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pulse.cli import main
from pulse.rules import check_rules, default_rules_path, load_rules

DEFAULT = load_rules(default_rules_path())
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_extends_example() -> str:
    block = re.search(r"```yaml\n(extends: default\n.*?)```", README, re.S)
    assert block, "README shows an `extends: default` example"
    return block.group(1)


def test_file_with_one_new_rule_keeps_the_default_pack() -> None:
    text = (
        "extends: default\nscoring:\n  rules:\n    - {name: lux, event: product_view, points: 5}\n"
    )
    check = check_rules(text, "mine.yaml")
    assert check.rules is not None and check.problems == [] and check.warnings == []
    rules = check.rules
    assert [r.name for r in rules.scoring.rules] == [r.name for r in DEFAULT.scoring.rules] + [
        "lux"
    ]
    assert rules.triggers == DEFAULT.triggers and rules.stages == DEFAULT.stages


def test_rule_with_a_default_rules_name_changes_it_in_place_field_by_field() -> None:
    text = "extends: default\nscoring:\n  rules:\n    - {name: premium_product_view, points: 9}\n"
    rules = check_rules(text).rules
    assert rules is not None
    [premium] = [r for r in rules.scoring.rules if r.name == "premium_product_view"]
    assert premium.points == 9 and premium.when == "double(props.price) >= 200.0"
    assert len(rules.scoring.rules) == len(DEFAULT.scoring.rules)
    assert 2 in rules.conditions  # its condition still compiled, at the same index


def test_trigger_with_a_default_name_changes_it_and_enabled_false_turns_one_off() -> None:
    text = (
        "extends: default\ntriggers:\n  - {kind: abandon_cart, after: 2h}\n"
        "  - {kind: rescue, enabled: false}\n"
    )
    check = check_rules(text)
    assert check.rules is not None and check.warnings == []  # turning off is no warning here
    by_name = {t.name: t for t in check.rules.triggers}
    assert by_name["abandon_cart"].after.ms == 7_200_000  # type: ignore[union-attr]
    assert by_name["abandon_cart"].channel == "email"
    assert by_name["rescue"].enabled is False


def test_point_rule_enabled_false_removes_it() -> None:
    text = (
        "extends: default\nscoring:\n  rules:\n    - {name: premium_product_view, enabled: false}\n"
    )
    rules = check_rules(text).rules
    assert rules is not None
    assert "premium_product_view" not in {r.name for r in rules.scoring.rules}
    assert all(rules.scoring.rules[i].when is not None for i in rules.conditions)


def test_sections_merge_key_by_key_and_event_types_add() -> None:
    text = "extends: default\nevent_types: [trial_started]\nstages:\n  decision_score: 50\n"
    rules = check_rules(text).rules
    assert rules is not None
    assert rules.stages.decision_score == 50 and rules.stages.consideration_score == 10
    assert rules.event_types == {"trial_started"}


def test_problem_in_an_inherited_part_is_placed_in_the_base_file() -> None:
    check = check_rules("extends: default\nscoring:\n  total_cap: 50\n", "mine.yaml")
    [problem] = check.problems
    assert problem.startswith("mine.yaml: trigger `sales_ready` can never fire")
    assert (
        f"of `{default_rules_path()}` line" in problem and "inherited through `extends`" in problem
    )


def test_problem_in_the_files_own_part_keeps_its_own_line() -> None:
    text = "extends: default\ntriggers:\n  - kind: abandon_cart\n    after: thirty\n"
    [problem] = check_rules(text, "mine.yaml").problems
    assert "at `$.triggers[0].after` (line 4)" in problem


def test_extends_a_file_relative_to_this_one(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text("triggers:\n  - kind: welcome\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: team.yaml\ntriggers:\n  - {kind: welcome, channel: sms}\n")
    rules = load_rules(mine)
    assert [(t.name, t.channel) for t in rules.triggers] == [("welcome", "sms")]


def test_extending_a_missing_file_is_a_problem_at_extends(tmp_path: Path) -> None:
    [problem] = check_rules("extends: nope.yaml\n", str(tmp_path / "mine.yaml")).problems
    assert "cannot extend `nope.yaml`" in problem and "at `$.extends` (line 1)" in problem


def test_version_changes_with_the_base_and_with_the_file() -> None:
    one = check_rules("extends: default\n").rules
    two = check_rules("extends: default\nname: x\n").rules
    assert one is not None and two is not None and one.version != two.version != DEFAULT.version


def test_pack_without_triggers_is_a_warning_and_fails_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one-rule.yaml"
    path.write_text("scoring:\n  rules:\n    - {event: login, points: 2}\n")
    assert main(["check", str(path)]) == 0
    assert "no enabled trigger" in capsys.readouterr().err
    assert main(["check", "--strict", str(path)]) == 1


def test_readme_extends_example_loads_and_does_what_it_says() -> None:
    rules = check_rules(readme_extends_example(), "readme.yaml").rules
    assert rules is not None
    names = {r.name: r for r in rules.scoring.rules}
    assert "luxury_product_view" in names and "premium_product_view" not in names
    assert names["page_view"].points == 2 and names["page_view"].cap == 15
    triggers = {t.name: t for t in rules.triggers}
    assert triggers["abandon_cart"].after.ms == 7_200_000  # type: ignore[union-attr]
    assert triggers["rescue"].enabled is False and len(triggers) == len(DEFAULT.triggers)
