"""`check_rules` beyond the schema: never-firing triggers, conditions that never hold,
unused definitions as warnings, and `pulse check`'s exit status for CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.cli import main
from pulse.conditions import CONTACT_FIELDS
from pulse.contact import ContactState
from pulse.rules import check_rules, default_rules_path, load_rules
from pulse.scoring import contact_view


def problem_at(text: str, path: str) -> str:
    """The one problem reported at `path` (the file must be refused)."""
    check = check_rules(text, "r.yaml")
    assert check.rules is None, "the file should be refused"
    found = [p for p in check.problems if f"at `{path}`" in p]
    assert len(found) == 1, check.problems
    return found[0]


def warning_at(text: str, path: str) -> str:
    """The one warning reported at `path` (the file must still be accepted)."""
    check = check_rules(text, "r.yaml")
    assert check.rules is not None, check.problems
    found = [w for w in check.warnings if f"at `{path}`" in w]
    assert len(found) == 1, check.warnings
    assert check.rules.warnings == tuple(check.warnings)
    return found[0]


def test_default_pack_has_no_problem_and_no_warning() -> None:
    check = check_rules(default_rules_path().read_text(), "default.yaml")
    assert check.problems == [] and check.warnings == []


def test_contact_fields_known_to_conditions_match_the_contact_view() -> None:
    rules = load_rules(default_rules_path())
    assert set(contact_view(ContactState(), 0, rules)) == CONTACT_FIELDS


def test_abandon_cart_cancelled_by_add_to_cart_can_never_fire() -> None:
    text = "triggers:\n  - kind: abandon_cart\n    cancel_on: [purchase, add_to_cart]\n"
    message = problem_at(text, "$.triggers[0].cancel_on[1]")
    assert "can never fire" in message and "(line 3)" in message


def test_negative_min_cart_value_is_refused() -> None:
    message = problem_at(
        "triggers:\n  - kind: abandon_cart\n    min_cart_value: -5\n",
        "$.triggers[0].min_cart_value",
    )
    assert "must not be negative" in message


def test_welcome_on_a_vendor_name_nothing_produces_is_refused() -> None:
    text = "event_types: ['Signed Up']\ntriggers:\n  - kind: welcome\n    event: Signed Up\n"
    message = problem_at(text, "$.triggers[0].event")
    assert "renamed to `signup`" in message and "use `signup`" in message


def test_sales_ready_threshold_above_total_cap_can_never_fire() -> None:
    text = "scoring:\n  total_cap: 50\ntriggers:\n  - kind: sales_ready\n    threshold: 60\n"
    assert "can never fire" in problem_at(text, "$.triggers[0].threshold")


def test_welcome_back_without_lost_customer_can_never_fire() -> None:
    message = problem_at("triggers:\n  - kind: welcome_back\n", "$.triggers[0].kind")
    assert "`lost_customer`" in message


def test_positive_rule_with_cap_zero_can_never_add_points() -> None:
    text = "scoring:\n  rules:\n    - {event: login, points: 2, cap: 0}\n"
    assert "can never add points" in problem_at(text, "$.scoring.rules[0].cap")


def test_condition_on_an_unknown_contact_field_is_refused() -> None:
    text = "scoring:\n  rules:\n    - {event: login, points: 2, when: 'contact.scroe > 3.0'}\n"
    assert "`contact.scroe`" in problem_at(text, "$.scoring.rules[0].when")


def test_condition_comparing_type_with_an_unknown_type_is_refused() -> None:
    text = "scoring:\n  rules:\n    - {event: login, points: 2, when: 'type == \"logni\"'}\n"
    assert "unknown event type `logni`" in problem_at(text, "$.scoring.rules[0].when")


def test_condition_comparing_type_with_another_rules_type_never_holds() -> None:
    text = "scoring:\n  rules:\n    - {event: login, points: 2, when: 'type == \"purchase\"'}\n"
    assert "never holds" in problem_at(text, "$.scoring.rules[0].when")


def test_condition_calling_a_function_the_runtime_lacks_is_refused() -> None:
    text = "scoring:\n  rules:\n    - {event: login, points: 2, when: 'max(1, 2) > 0'}\n"
    assert "unknown function `max`" in problem_at(text, "$.scoring.rules[0].when")


def test_loyal_purchases_below_one_is_refused() -> None:
    problem_at("stages:\n  loyal_purchases: 0\n", "$.stages.loyal_purchases")


def test_declared_event_type_nothing_uses_is_a_warning() -> None:
    message = warning_at("event_types: [trial_started]\n", "$.event_types[0]")
    assert "warning:" in message and "`trial_started`" in message and "(line 1)" in message


def test_declared_event_type_used_by_a_rule_is_not_a_warning() -> None:
    text = (
        "event_types: [trial_started]\nscoring:\n  rules:\n    - {event: trial_started, points: 1}"
        "\ntriggers:\n  - kind: welcome\n"
    )
    assert check_rules(text).warnings == []


def test_declaring_a_canonical_type_is_a_warning() -> None:
    assert "canonical" in warning_at("event_types: [purchase]\n", "$.event_types[0]")


def test_two_rules_sharing_a_name_is_a_warning() -> None:
    text = "scoring:\n  rules:\n    - {event: login, points: 2}\n    - {event: login, points: 1}\n"
    assert "share their points" in warning_at(text, "$.scoring.rules[1].event")


def test_decision_score_above_total_cap_is_a_warning() -> None:
    text = "scoring:\n  total_cap: 30\nstages:\n  consideration_score: 10\n  decision_score: 40\n"
    assert "no score reaches it" in warning_at(text, "$.stages.decision_score")


def test_disabled_trigger_is_a_warning() -> None:
    text = "triggers:\n  - kind: welcome\n    enabled: false\n"
    assert "disabled" in warning_at(text, "$.triggers[0].enabled")


# -- pulse check: exit status ---------------------------------------------------------

WARNS_ONLY = "event_types: [trial_started]\ntriggers:\n  - kind: welcome\n"


def test_pulse_check_passes_with_warnings_and_prints_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "warn.yaml"
    path.write_text(WARNS_ONLY)
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: ok" in out
    assert f"{path}: warning:" in err and "1 warning(s)" in err


def test_pulse_check_strict_fails_on_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "warn.yaml"
    path.write_text(WARNS_ONLY)
    assert main(["check", "--strict", str(path)]) == 1
    assert main(["check", "--strict", str(default_rules_path())]) == 0


def test_pulse_check_reports_problems_of_every_file_in_one_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("triggers:\n  - kind: abandon_cart\n    cancel_on: [add_to_cart]\n")
    second.write_text("scoring:\n  rules:\n    - {event: login, points: 1, when: 'x >'}\n")
    assert main(["check", str(first), str(second), str(tmp_path / "missing.yaml")]) == 1
    _, err = capsys.readouterr()
    assert f"{first}: trigger `abandon_cart` can never fire" in err
    assert f"{second}: condition does not compile" in err
    assert "missing.yaml: cannot read rules file" in err
    assert "3 problem(s)" in err


def test_condition_reading_a_prop_pulse_does_not_know_is_a_warning() -> None:
    text = (
        "scoring:\n  rules:\n    - {event: login, points: 2, when: 'double(props.prcie) > 1.0'}\n"
    )
    assert "`props.prcie`" in warning_at(text, "$.scoring.rules[0].when")


def test_declared_type_used_as_cancel_on_or_welcome_event_is_not_unused() -> None:
    text = (
        "event_types: [order_placed, trial_started]\ntriggers:\n"
        "  - {kind: abandon_cart, cancel_on: [order_placed]}\n"
        "  - {kind: welcome, event: trial_started}\n"
    )
    assert check_rules(text).warnings == []


def test_declared_type_is_not_unused_when_activity_triggers_count_it() -> None:
    # Any event ends a silence: `rescue` and `lost_customer` depend on every declared type.
    text = "event_types: [trial_started]\ntriggers:\n  - kind: rescue\n"
    assert check_rules(text).warnings == []


def test_problems_and_warnings_are_listed_by_line() -> None:
    text = (
        "scoring:\n  rules:\n    - {event: logni, points: 1}\n"
        "stages:\n  consideration_score: 50\n  decision_score: 40\n"
        "triggers:\n  - kind: welcom\n  - {kind: abandon_cart, cancel_on: [purchse]}\n"
    )
    problems = check_rules(text).problems
    lines = [int(p.rsplit("(line ", 1)[1].rstrip(")")) for p in problems]
    assert lines == sorted(lines) and len(lines) == 4, problems


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("triggers:\n  - kind: welcom\n", "did you mean `welcome`?"),
        ("triggers:\n  - {kind: welcome, evnt: signup}\n", "did you mean `event`?"),
        ("stages:\n  decison_score: 40\n", "did you mean `decision_score`?"),
        ("scoring:\n  rules:\n    - {event: product_veiw, points: 1}\n", "`product_view`?"),
        ("triggers:\n  - {kind: abandon_cart, cancel_on: [purchse]}\n", "`purchase`?"),
        ("scoring:\n  rules:\n    - {event: login, points: 1, when: 'prop.x > 1'}\n", "`props`?"),
        ("scoring:\n  rules:\n    - {event: login, points: 1, when: 'contact.scroe > 1.0'}\n",
         "`score`?"),
        ("scoring:\n  rules:\n    - {event: login, points: 1, when: 'sise(props.y) > 1'}\n",
         "`size`?"),
    ],
)  # fmt: skip
def test_misspelt_names_get_a_did_you_mean(text: str, suggestion: str) -> None:
    check = check_rules(text)
    assert any(suggestion in p for p in check.problems), check.problems
