"""`check_rules` beyond the schema: never-firing triggers, conditions that never hold,
unused definitions as warnings, and `pulse check`'s exit status for CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.cli import main
from pulse.conditions import CONTACT_FIELDS
from pulse.contact import ContactState
from pulse.rules import Rules, check_rules, default_rules_path, load_rules
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


# -- guardrails: calendar-day and cross-channel caps, exclusion groups (#13) ------------

_TWO = "triggers:\n  - {kind: abandon_cart}\n  - {kind: browse_abandon}\n"


def test_cap_per_calendar_day_and_on_all_channels_is_accepted() -> None:
    text = _TWO + "guardrails:\n  frequency_caps:\n    - {channel: all, max: 2, per: day}\n"
    rules = load_rules_text(text)
    (cap,) = rules.guardrails.frequency_caps
    assert cap.channel == "all" and cap.per.is_calendar_day and cap.per.ms == 0


def test_cap_per_a_word_other_than_day_is_refused_naming_the_line() -> None:
    text = _TWO + "guardrails:\n  frequency_caps:\n    - {channel: email, max: 2, per: week}\n"
    message = problem_at(text, "$.guardrails.frequency_caps[0].per")
    assert "Expected `day` or a duration" in message and "(line 6)" in message


def test_cap_on_an_unknown_channel_is_a_warning_with_a_suggestion() -> None:
    text = _TWO + "guardrails:\n  frequency_caps:\n    - {channel: emial, max: 2}\n"
    assert "did you mean `email`" in warning_at(text, "$.guardrails.frequency_caps[0].channel")


def test_exclusion_group_naming_an_unknown_trigger_is_refused() -> None:
    text = _TWO + "guardrails:\n  exclusive:\n    - {triggers: [abandon_cart, browse_abandn]}\n"
    message = problem_at(text, "$.guardrails.exclusive[0].triggers[1]")
    assert "unknown trigger `browse_abandn`" in message and "`browse_abandon`" in message


def test_exclusion_group_of_one_trigger_is_refused() -> None:
    text = _TWO + "guardrails:\n  exclusive:\n    - {triggers: [abandon_cart, abandon_cart]}\n"
    assert "two distinct" in problem_at(text, "$.guardrails.exclusive[0].triggers")


def test_exclusion_group_within_zero_is_refused() -> None:
    text = _TWO + (
        "guardrails:\n  exclusive:\n    - {triggers: [abandon_cart, browse_abandon], within: 0s}\n"
    )
    assert "longer than zero" in problem_at(text, "$.guardrails.exclusive[0].within")


def test_priority_must_be_an_integer() -> None:
    text = "triggers:\n  - {kind: abandon_cart, priority: high}\n"
    assert "Expected `int`" in problem_at(text, "$.triggers[0].priority")


# -- channels and fallback (#13 part 4) --------------------------------------------------


def test_channel_list_with_conditions_and_fallback_is_accepted() -> None:
    text = (
        "triggers:\n  - kind: abandon_cart\n    channels:\n      - email\n"
        "      - {channel: sms, require: [consented, has_address], engaged_within: 30d}\n"
        "    fallback_after: 48h\n    engagement: [email_open]\n"
    )
    (spec,) = load_rules_text(text).triggers
    assert spec.channels[0] == "email" and spec.fallback_after is not None


def test_unknown_channel_in_the_list_is_refused_with_a_suggestion() -> None:
    text = "triggers:\n  - {kind: welcome, channels: [email, smss]}\n"
    message = problem_at(text, "$.triggers[0].channels[1]")
    assert "unknown channel `smss`" in message and "did you mean `sms`" in message


def test_channel_listed_twice_is_refused() -> None:
    text = "triggers:\n  - {kind: welcome, channels: [email, email]}\n"
    assert "listed twice" in problem_at(text, "$.triggers[0].channels[1]")


def test_unknown_channel_condition_is_refused() -> None:
    text = "triggers:\n  - {kind: welcome, channels: [{channel: sms, require: [opted_in]}]}\n"
    message = problem_at(text, "$.triggers[0].channels[0].require[0]")
    assert "`consented`" in message and "`has_address`" in message


def test_engaged_within_beyond_the_30_days_pulse_keeps_is_refused() -> None:
    text = "triggers:\n  - {kind: welcome, channels: [{channel: email, engaged_within: 60d}]}\n"
    assert "at most 30d" in problem_at(text, "$.triggers[0].channels[0].engaged_within")


def test_engaged_within_on_a_channel_without_engagement_events_is_refused() -> None:
    text = "triggers:\n  - {kind: welcome, channels: [{channel: crm, engaged_within: 7d}]}\n"
    assert "can never hold" in problem_at(text, "$.triggers[0].channels[0].engaged_within")


def test_fallback_without_a_second_channel_is_refused() -> None:
    text = "triggers:\n  - {kind: welcome, channel: email, fallback_after: 48h}\n"
    assert "no second channel" in problem_at(text, "$.triggers[0].fallback_after")


def test_fallback_after_zero_is_refused() -> None:
    text = "triggers:\n  - {kind: welcome, channels: [email, sms], fallback_after: 0s}\n"
    assert "longer than zero" in problem_at(text, "$.triggers[0].fallback_after")


def test_fallback_engagement_on_an_unknown_event_type_is_refused_with_a_suggestion() -> None:
    text = (
        "triggers:\n  - {kind: welcome, channels: [email, sms], fallback_after: 1d,"
        " engagement: [email_opened]}\n"
    )
    message = problem_at(text, "$.triggers[0].engagement[0]")
    assert "unknown event type `email_opened`" in message and "`email_open`" in message


def test_fallback_with_no_engagement_event_is_refused() -> None:
    text = (
        "triggers:\n  - {kind: welcome, channels: [email, sms], fallback_after: 1d,"
        " engagement: []}\n"
    )
    assert "at least one event type" in problem_at(text, "$.triggers[0].engagement")


def test_a_base_channel_beside_a_different_channel_list_is_a_warning() -> None:
    text = "extends: default\ntriggers:\n  - {kind: welcome, channels: [sms, email]}\n"
    assert "`channel` (`email`) is ignored" in warning_at(text, "$.triggers[0].channel")


def load_rules_text(text: str) -> Rules:
    check = check_rules(text, "r.yaml")
    assert check.rules is not None, check.problems
    return check.rules


_WELCOME_STEPS = "triggers:\n  - kind: welcome\n    steps:\n"


def test_a_step_after_zero_is_refused_naming_the_line() -> None:
    text = _WELCOME_STEPS + "      - {name: tips, after: 0s}\n"
    message = problem_at(text, "$.triggers[0].steps[0].after")
    assert "must be longer than zero" in message and "(line 4)" in message


def test_a_negative_step_after_is_refused() -> None:
    text = _WELCOME_STEPS + "      - {name: tips, after: -2d}\n"
    assert "Expected `duration`" in problem_at(text, "$.triggers[0].steps[0].after")


def test_steps_out_of_time_order_are_refused() -> None:
    text = _WELCOME_STEPS + "      - {name: a, after: 5d}\n      - {name: b, after: 2d}\n"
    message = problem_at(text, "$.triggers[0].steps[1].after")
    assert "later than the step before" in message and "(line 5)" in message


def test_a_step_name_used_twice_is_refused() -> None:
    text = _WELCOME_STEPS + "      - {name: a, after: 1d}\n      - {name: a, after: 2d}\n"
    message = problem_at(text, "$.triggers[0].steps[1].name")
    assert "`a` is used twice" in message and "(line 5)" in message


def test_a_step_on_an_unknown_channel_is_refused_with_a_suggestion() -> None:
    text = _WELCOME_STEPS + "      - {name: a, after: 1d, channels: [email, smss]}\n"
    message = problem_at(text, "$.triggers[0].steps[0].channels[1]")
    assert "unknown channel `smss`" in message and "`sms`" in message


def test_an_exit_on_an_unknown_event_type_is_refused() -> None:
    text = _WELCOME_STEPS + "      - {name: a, after: 1d}\n    exit_on: [purchse]\n"
    message = problem_at(text, "$.triggers[0].exit_on[0]")
    assert "unknown event type `purchse`" in message and "`purchase`" in message
    assert "(line 5)" in message


def test_a_reentry_that_is_not_a_rule_is_refused() -> None:
    text = _WELCOME_STEPS + "      - {name: a, after: 1d}\n    reentry: sometimes\n"
    message = problem_at(text, "$.triggers[0].reentry")
    assert "Expected `always`, `never` or a duration" in message


def test_max_active_below_one_is_refused_naming_the_line() -> None:
    text = "triggers:\n  - kind: welcome\nsequences:\n  max_active: 0\n"
    message = problem_at(text, "$.sequences.max_active")
    assert "must be between 1 and 16" in message and "(line 4)" in message


def test_exit_on_without_steps_is_a_warning() -> None:
    text = "triggers:\n  - kind: welcome\n    exit_on: [purchase]\n"
    assert "has no `steps`" in warning_at(text, "$.triggers[0].steps")


def test_steps_exits_and_reentry_are_loaded() -> None:
    text = _WELCOME_STEPS + "      - {name: a, after: 2d}\n    exit_on: [purchase]\n"
    text += "    reentry: 30d\nsequences: {max_active: 2}\n"
    rules = check_rules(text, "r.yaml").rules
    assert rules is not None
    (welcome,) = rules.triggers
    assert [(s.name, s.after.ms) for s in welcome.steps] == [("a", 2 * 86_400_000)]
    assert welcome.exit_on == ["purchase"] and welcome.reentry.ms == 30 * 86_400_000
    assert rules.sequences.max_active == 2


def test_an_event_type_declared_for_an_exit_is_used() -> None:
    text = "event_types: [trial_ended]\n" + _WELCOME_STEPS
    text += "      - {name: a, after: 1d}\n    exit_on: [trial_ended]\n"
    check = check_rules(text, "r.yaml")
    assert check.rules is not None and check.warnings == [], check.warnings


def test_anniversary_at_a_time_of_day_that_is_no_clock_is_refused() -> None:
    text = "triggers:\n  - {kind: anniversary, of: birthday, at: '25:00'}\n"
    assert "HH:MM" in problem_at(text, "$.triggers[0].at")


def test_milestone_with_a_zero_or_repeated_purchase_count_is_refused() -> None:
    zero = "triggers:\n  - {kind: milestone, purchases: [0, 3]}\n"
    assert "1 or more" in problem_at(zero, "$.triggers[0].purchases[0]")
    twice = "triggers:\n  - {kind: milestone, purchases: [3, 3]}\n"
    assert "twice" in problem_at(twice, "$.triggers[0].purchases")


def test_anniversary_of_an_unknown_date_is_refused() -> None:
    text = "triggers:\n  - {kind: anniversary, of: wedding}\n"
    assert "wedding" in problem_at(text, "$.triggers[0].of")
