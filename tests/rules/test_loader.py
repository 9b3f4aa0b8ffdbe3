"""Unit tests of `pulse.rules` (parse_rules / load_rules) and `pulse check`."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulse.cli import main
from pulse.errors import RuleError
from pulse.rules import (
    AbandonCart,
    Rules,
    SalesReady,
    default_rules_path,
    load_rules,
    parse_rules,
    trigger_kind,
)

DEFAULT_KINDS = {
    "welcome", "abandon_cart", "browse_abandon", "sales_ready",
    "rescue", "lost_customer", "welcome_back", "post_purchase",
}  # fmt: skip


def problems_of(text: str, source: str = "rules.yaml") -> list[str]:
    """The problems `parse_rules` reports for `text` (fails if it accepts it)."""
    with pytest.raises(RuleError) as caught:
        parse_rules(text, source)
    assert caught.value.problems, "a RuleError must list at least one problem"
    return caught.value.problems


def only_problem(text: str, source: str = "rules.yaml") -> str:
    problems = problems_of(text, source)
    assert len(problems) == 1, problems
    return problems[0]


# -- the default pack -------------------------------------------------------------


def test_default_pack_loads_with_every_trigger_kind() -> None:
    rules = load_rules(default_rules_path())
    assert rules.name == "default-ecommerce"
    assert {trigger_kind(spec) for spec in rules.triggers} == DEFAULT_KINDS
    assert rules.allowed_lateness_ms == 5_000
    assert rules.session_gap_ms == 30 * 60_000
    assert rules.scoring.half_life.ms == 14 * 86_400_000
    abandon = next(spec for spec in rules.triggers if isinstance(spec, AbandonCart))
    assert abandon.after.ms == 30 * 60_000
    assert abandon.name == "abandon_cart"  # the name defaults to the kind
    # The one conditional point rule is compiled.
    conditional = [i for i, r in enumerate(rules.scoring.rules) if r.when is not None]
    assert conditional and set(rules.conditions) == set(conditional)


def test_empty_file_gives_the_defaults() -> None:
    rules = parse_rules("")
    assert rules.triggers == ()
    assert rules.allowed_lateness_ms == 5_000
    assert rules.scoring.rules == []


def test_rules_version_is_a_hash_of_the_text() -> None:
    text = default_rules_path().read_text()
    assert parse_rules(text).version == parse_rules(text).version
    assert parse_rules(text).version != parse_rules(text + "\n# changed\n").version


def test_durations_accept_compound_units_and_seconds() -> None:
    rules = parse_rules("allowed_lateness: 90\nsession_gap: 1h30m\n")
    assert rules.allowed_lateness_ms == 90_000
    assert rules.session_gap_ms == 90 * 60_000


# -- every problem at once, with file, path and line ------------------------------------

BAD = """\
version: 1
name: bad
allowed_lateness: 5s
scoring:
  rules:
    - {event: page_view, points: 1}
    - event: nosuch_event
      points: 2
    - event: product_view
      points: 3
      when: "props.price >"
    - event: search
      points: 1
      when: "user.age > 3"
triggers:
  - kind: welcome
  - kind: abandon_cart
    after: thirty
  - kind: sales_ready
    threshold: 50
    rearm_below: 70
  - kind: teleport
  - kind: browse_abandon
    min_views: 3
    colour: blue
  - kind: welcome
    channel: sms
"""

# (path, line, words the message must contain)
BAD_EXPECTED = [
    ("$.scoring.rules[1].event", 7, ["unknown event type", "nosuch_event"]),
    ("$.scoring.rules[2].when", 11, ["does not compile"]),
    ("$.scoring.rules[3].when", 14, ["unknown name", "user"]),
    ("$.triggers[1].after", 18, ["duration", "thirty"]),
    ("$.triggers[2].rearm_below", 21, ["rearm_below", "threshold"]),
    ("$.triggers[3].kind", 22, ["teleport"]),
    ("$.triggers[4].colour", 25, ["unknown field", "colour"]),
    ("$.triggers[5].name", 26, ["welcome", "already used", "$.triggers[0]"]),
]


def _find(problems: list[str], path: str) -> str:
    matching = [p for p in problems if f"at `{path}`" in p]
    assert len(matching) == 1, f"expected one problem at {path}, got: {problems}"
    return matching[0]


def test_file_with_several_problems_reports_all_of_them_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(RuleError) as caught:
        load_rules(path)
    problems = caught.value.problems
    assert len(problems) == len(BAD_EXPECTED), problems
    for expected_path, line, words in BAD_EXPECTED:
        message = _find(problems, expected_path)
        assert message.startswith(f"{path}: "), message
        assert message.endswith(f"(line {line})"), message
        for word in words:
            assert word in message, message
    # The exception's text carries every problem too.
    assert str(caught.value).splitlines() == problems


def test_invalid_yaml_syntax_reports_line_and_column() -> None:
    message = only_problem("version: 1\nname: x\n  oops: 2\n", "syntax.yaml")
    assert message.startswith("syntax.yaml: invalid YAML:"), message
    assert "(line 3, column 7)" in message


def test_unclosed_flow_sequence_reports_where_the_parser_stopped() -> None:
    message = only_problem("version: 1\nname: [unclosed\ntriggers: []\n")
    assert "invalid YAML" in message
    assert re.search(r"\(line 3, column \d+\)", message), message


def test_top_level_that_is_not_a_mapping_is_refused() -> None:
    message = only_problem("- 1\n- 2\n")
    assert "mapping" in message and "at `$`" in message


def test_unknown_trigger_kind_is_reported() -> None:
    message = only_problem("triggers:\n  - kind: welcome\n  - kind: fax_blast\n")
    assert "fax_blast" in message
    assert "at `$.triggers[1].kind` (line 3)" in message


def test_unknown_top_level_field_is_reported() -> None:
    message = only_problem("version: 1\ntriggerz: []\n")
    assert "unknown field `triggerz` (did you mean `triggers`?)" in message
    assert "at `$.triggerz` (line 2)" in message


def test_unknown_field_in_point_rule_is_reported_with_its_rule() -> None:
    text = "scoring:\n  rules:\n    - {event: page_view, points: 1}\n    - {event: login, pts: 2}\n"
    message = only_problem(text)
    assert "pts" in message
    assert "at `$.scoring.rules[1].pts` (line 4)" in message


def test_bad_duration_names_duration_and_path() -> None:
    text = "triggers:\n  - kind: welcome\n  - kind: abandon_cart\n    after: thirty\n"
    message = only_problem(text)
    assert "duration" in message
    assert "at `$.triggers[1].after` (line 4)" in message


@pytest.mark.parametrize("value", ["-5", "1x", "''", "[30m]", "true"])
def test_malformed_durations_are_refused(value: str) -> None:
    message = only_problem(f"session_gap: {value}\n")
    assert "duration" in message and "$.session_gap" in message


@pytest.mark.parametrize("value", [".inf", "9" * 400 + "d"])
def test_unrepresentably_large_duration_is_refused_as_rule_error(value: str) -> None:
    message = only_problem(f"allowed_lateness: {value}\n")
    assert "$.allowed_lateness" in message


def test_condition_that_does_not_compile_is_reported() -> None:
    text = "scoring:\n  rules:\n    - event: page_view\n      points: 1\n      when: 'ts >>'\n"
    message = only_problem(text)
    assert "condition does not compile" in message
    assert "at `$.scoring.rules[0].when` (line 5)" in message


def test_condition_using_unknown_variable_is_reported_with_allowed_names() -> None:
    text = (
        "scoring:\n  rules:\n    - event: page_view\n      points: 1\n"
        "      when: 'request.ip == \"1\" && props.x == 1'\n"
    )
    message = only_problem(text)
    assert "unknown name `request`" in message
    for name in ("contact", "props", "ts", "type"):
        assert f"`{name}`" in message
    assert "at `$.scoring.rules[0].when` (line 5)" in message


def test_condition_over_allowed_variables_compiles() -> None:
    text = (
        "scoring:\n  rules:\n    - event: page_view\n      points: 1\n"
        "      when: 'type == \"page_view\" && ts > 0 && contact.score < 10.0'\n"
    )
    assert set(parse_rules(text).conditions) == {0}


def test_rearm_below_above_threshold_is_reported() -> None:
    text = "triggers:\n  - kind: sales_ready\n    threshold: 30\n    rearm_below: 45\n"
    message = only_problem(text)
    assert "`rearm_below` (45.0) is above `threshold` (30.0)" in message
    assert "at `$.triggers[0].rearm_below` (line 4)" in message


def test_min_points_above_threshold_is_reported() -> None:
    text = (
        "triggers:\n  - kind: sales_ready\n    threshold: 30\n    rearm_below: 20\n"
        "    min_points: 45\n"
    )
    message = only_problem(text)
    assert "`min_points` (45.0) must be between 0 and `threshold` (30.0)" in message
    assert "at `$.triggers[0].min_points` (line 5)" in message


def test_rearm_below_equal_to_threshold_is_accepted() -> None:
    text = "triggers:\n  - kind: sales_ready\n    threshold: 30\n    rearm_below: 30\n"
    (spec,) = parse_rules(text).triggers
    assert isinstance(spec, SalesReady) and spec.rearm_below == spec.threshold == 30


def test_duplicate_trigger_names_are_reported() -> None:
    text = (
        "triggers:\n  - kind: abandon_cart\n    name: nudge\n"
        "  - kind: browse_abandon\n    name: nudge\n"
    )
    message = only_problem(text)
    assert "trigger name `nudge` is already used at `$.triggers[0]`" in message
    assert "at `$.triggers[1].name` (line 5)" in message


def test_same_kind_twice_with_distinct_names_is_accepted() -> None:
    text = "triggers:\n  - kind: abandon_cart\n  - kind: abandon_cart\n    name: late_nudge\n"
    names = [spec.name for spec in parse_rules(text).triggers]
    assert names == ["abandon_cart", "late_nudge"]


def test_unknown_event_type_in_point_rule_is_reported() -> None:
    text = "scoring:\n  rules:\n    - {event: trial_started, points: 5}\n"
    message = only_problem(text)
    assert "unknown event type `trial_started`" in message
    assert "at `$.scoring.rules[0].event` (line 3)" in message


def test_event_type_declared_under_event_types_may_be_scored() -> None:
    text = (
        "event_types: [trial_started]\n"
        "scoring:\n  rules:\n    - {event: trial_started, points: 5}\n"
    )
    rules = parse_rules(text)
    assert rules.event_types == frozenset({"trial_started"})
    assert [rule.name for _, rule in rules.rules_for("trial_started")] == ["trial_started"]


def test_unknown_event_type_in_cancel_on_is_reported() -> None:
    text = "triggers:\n  - kind: abandon_cart\n    cancel_on: [purchase, paid]\n"
    message = only_problem(text)
    assert "unknown event type `paid`" in message
    assert "$.triggers[0].cancel_on[1]" in message


def test_consideration_above_decision_score_is_reported() -> None:
    message = only_problem("stages:\n  consideration_score: 50\n  decision_score: 40\n")
    assert "at `$.stages.consideration_score` (line 2)" in message


def test_missing_rules_file_is_a_rule_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RuleError, match="cannot read rules file") as caught:
        load_rules(missing)
    assert str(missing) in caught.value.problems[0]


# -- pulse check ----------------------------------------------------------------------


def test_pulse_check_exits_0_on_default_pack(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(default_rules_path())
    assert main(["check", path]) == 0
    out, err = capsys.readouterr()
    assert f"{path}: ok" in out
    assert "8 triggers" in out
    assert err == ""


def test_pulse_check_exits_1_listing_every_problem_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    assert main(["check", str(default_rules_path()), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "ok" in out and str(bad) not in out
    for expected_path, line, _ in BAD_EXPECTED:
        assert f"at `{expected_path}` (line {line})" in err
    assert f"{len(BAD_EXPECTED)} problem(s)" in err


def test_pulse_check_exits_1_on_bad_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("a: 1\n  b: 2\n")
    assert main(["check", str(bad)]) == 1
    _, err = capsys.readouterr()
    assert f"{bad}: invalid YAML" in err and "(line 2, column 4)" in err


# -- property ------------------------------------------------------------------------

FIELD_NAMES = (
    "version", "name", "allowed_lateness", "session_gap", "event_types", "scoring",
    "stages", "triggers", "half_life", "total_cap", "rules", "event", "points", "when",
    "cap", "kind", "after", "min_cart_value", "cancel_on", "min_views", "threshold",
    "rearm_below", "silent_for", "min_events_30d", "channel", "enabled",
    "consideration_score", "decision_score", "cart_means_decision", "loyal_purchases",
)  # fmt: skip
KINDS = sorted(DEFAULT_KINDS)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from([*KINDS, "page_view", "purchase", "30m", "1h30m", "props.price > 1"])
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=10)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)
# Extremes a generator seldom draws on its own, weighted as much as everything else.
extreme_durations = st.sampled_from(
    [math.inf, -math.inf, math.nan, 1e300, 10**30, -1, "9" * 400 + "d", "0.5ms", ""]
)
durations = st.one_of(
    extreme_durations,
    st.sampled_from(["30m", "1h30m", "14d", 90, 0.5])
    | st.floats()
    | st.integers()
    | st.from_regex(r"[0-9]{1,400}(\.[0-9]+)?(ms|s|m|h|d|w)", fullmatch=True)
    | scalars,
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a valid value, sometimes any scalar: one bad field at a time gets through."""
    return st.one_of(valid, valid, valid, scalars)


trigger_docs = st.fixed_dictionaries(
    {"kind": mostly(st.sampled_from(KINDS))},
    optional={
        name: scalars if name not in ("after", "silent_for") else durations
        for name in ("name", "channel", "enabled", "after", "threshold", "rearm_below",
                     "min_views", "silent_for", "min_events_30d", "min_cart_value",
                     "cancel_on", "event")
    },
)  # fmt: skip
rule_docs = st.fixed_dictionaries(
    {"event": mostly(st.sampled_from(["page_view", "login"])), "points": mostly(st.integers())},
    optional={"when": scalars, "cap": scalars, "name": scalars},
)
scoring_docs = st.fixed_dictionaries(
    {},
    optional={
        "half_life": durations,
        "total_cap": mostly(st.floats(0, 1000)),
        "rules": mostly(st.lists(rule_docs, max_size=3)),
    },
)
# Shaped like a rules file, values mostly valid: gets past the top-level shape checks.
shaped_docs = st.fixed_dictionaries(
    {},
    optional={
        "version": mostly(st.just(1)),
        "name": mostly(st.text(max_size=10)),
        "allowed_lateness": durations,
        "session_gap": durations,
        "event_types": mostly(st.lists(st.text(max_size=8), max_size=3)),
        "scoring": mostly(scoring_docs),
        "stages": mostly(st.dictionaries(st.sampled_from(FIELD_NAMES), scalars, max_size=2)),
        "triggers": mostly(st.lists(trigger_docs, max_size=4)),
    },
)

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _parse_or_rule_error(doc: Any) -> None:
    text = yaml.safe_dump(doc)
    try:
        rules = parse_rules(text)
    except RuleError as exc:
        assert exc.problems
        return
    assert isinstance(rules, Rules)


@PROPERTY
@given(documents)
def test_parsing_arbitrary_yaml_documents_gives_rules_or_rule_error(doc: Any) -> None:
    _parse_or_rule_error(doc)


@PROPERTY
@given(shaped_docs)
def test_parsing_rules_shaped_documents_gives_rules_or_rule_error(doc: Any) -> None:
    _parse_or_rule_error(doc)
