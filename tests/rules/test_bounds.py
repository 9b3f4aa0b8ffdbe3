"""A hostile or broken rules file is refused with a message, never a traceback or a stall:
nesting, alias bombs, encoding, size, numbers, durations and CEL cost are bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.cli import main
from pulse.conditions import compile_condition, condition_cost
from pulse.errors import RuleError
from pulse.rules import check_rules, default_rules_path, load_rules
from pulse.rules.bounds import MAX_FILE_BYTES

DEFAULT = default_rules_path().read_text()


def problems(text: str) -> list[str]:
    check = check_rules(text, "r.yaml")
    assert check.rules is None, "the file should be refused"
    return check.problems


def test_yaml_nested_1000_deep_is_refused_with_its_line() -> None:
    text = "scoring:\n  rules: " + "[" * 1000 + "]" * 1000 + "\n"
    [message] = problems(text)
    assert "nesting deeper than 64 levels" in message and "(line 2," in message


def test_block_yaml_nested_1000_deep_is_refused() -> None:
    text = "x:\n" + "".join("  " * i + "- \n" for i in range(1000))
    [message] = problems(text)
    assert message.startswith("r.yaml: refused:") and "nesting deeper" in message


def test_alias_bomb_is_refused_before_it_expands() -> None:
    text = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(9)
    )
    [message] = problems(text)
    assert "more than 100,000 values" in message and "(line " in message


def test_alias_that_contains_itself_is_refused() -> None:
    [message] = problems("event_types: &a [*a]\n")
    assert "refers to a node that contains it" in message and "(line 1," in message


def test_aliases_within_the_bounds_still_work() -> None:
    text = "triggers:\n  - &w {kind: welcome, channel: email}\n  - {<<: *w, name: w2}\n"
    check = check_rules(text)
    assert check.rules is not None, check.problems
    assert [t.name for t in check.rules.triggers] == ["welcome", "w2"]


def test_non_utf8_file_is_refused_with_its_byte_position(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: default\nchannel: caf\xe9\n")
    with pytest.raises(RuleError) as caught:
        load_rules(path)
    assert caught.value.problems == [
        f"{path}: not UTF-8 text: byte 0xe9 at byte offset 26 (line 2, column 13)"
    ]


def test_pulse_check_on_a_non_utf8_file_prints_the_position_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"\xff\xfe")
    assert main(["check", str(path)]) == 1
    assert (
        "not UTF-8 text: byte 0xff at byte offset 0 (line 1, column 1)" in capsys.readouterr().err
    )


def test_file_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * MAX_FILE_BYTES + "\n")
    with pytest.raises(RuleError, match="at most 1,048,576 accepted"):
        load_rules(path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(".nan", "finite number, got `nan`"), (".inf", "finite number, got `inf`"),
     ("-.inf", "finite number, got `-inf`"), ("1.0e+30", "got `1e+30`"),
     ("100000000000000000000000000", "got `1e+26`")],
)  # fmt: skip
def test_numbers_must_be_finite_and_bounded(value: str, expected: str) -> None:
    text = f"scoring:\n  total_cap: 100\n  rules:\n    - {{event: login, points: {value}}}\n"
    [message] = problems(text)
    assert expected in message and "`$.scoring.rules[0].points` (line 4)" in message


def test_non_finite_number_anywhere_is_reported_once_at_its_path() -> None:
    text = "triggers:\n  - kind: abandon_cart\n    after: .inf\n    min_cart_value: .nan\n"
    found = problems(text)
    assert len(found) == 2, found
    assert "`$.triggers[0].after` (line 3)" in found[0]
    assert "`$.triggers[0].min_cart_value` (line 4)" in found[1]


@pytest.mark.parametrize(
    "path",
    ["session_gap: 0s", "model:\n  horizon: 0s", "triggers:\n  - {kind: rescue, silent_for: 0}"],
)
def test_durations_must_be_longer_than_zero(path: str) -> None:
    [message] = problems(path + "\n")
    assert "must be longer than zero" in message


def test_zero_allowed_lateness_is_accepted() -> None:
    assert check_rules("allowed_lateness: 0s\n").rules is not None


# -- CEL cost ---------------------------------------------------------------------------

LIST_200 = "[" + ",".join(str(i) for i in range(200)) + "]"


def test_nested_comprehension_that_loops_8_million_times_is_refused() -> None:
    small = "[" + ",".join(str(i) for i in range(20)) + "]"
    when = f"{small}.all(x, {small}.all(y, {small}.exists(z, x + y + z > 0)))"
    text = f"scoring:\n  rules:\n    - event: login\n      points: 1\n      when: '{when}'\n"
    found = problems(text)
    assert all("`$.scoring.rules[0].when` (line 5)" in m for m in found), found
    assert any("comprehension (`all`) inside another (`all`)" in m for m in found)
    assert any("(`exists`) inside another (`all`)" in m for m in found)


def test_long_condition_is_refused_before_it_reaches_the_cel_parser() -> None:
    when = f"{LIST_200}.all(x, {LIST_200}.all(y, {LIST_200}.all(z, true)))"
    [message] = problems(f"scoring:\n  rules:\n    - {{event: login, points: 1, when: '{when}'}}\n")
    assert "characters long; at most 1,000 accepted" in message


@pytest.mark.parametrize("macro", ["map", "filter"])
def test_quadratic_map_and_filter_are_refused(macro: str) -> None:
    when = f"props.items.{macro}(i, i > 1).size() > 2"
    [message] = problems(f"scoring:\n  rules:\n    - {{event: login, points: 1, when: '{when}'}}\n")
    assert f"`{macro}` costs the square of its list" in message


def test_props_read_inside_a_comprehension_is_refused() -> None:
    when = "props.items.exists(i, props.price > 1.0)"
    [message] = problems(f"scoring:\n  rules:\n    - {{event: login, points: 1, when: '{when}'}}\n")
    assert "`props` read inside a comprehension" in message


def test_comprehension_hidden_behind_a_raw_string_is_still_seen() -> None:
    # In CEL a raw string ends at the first quote: `r'\'` is one backslash.
    assert condition_cost(r"r'\' + string([1].all(x, [2].all(y, true))) == ''")


def test_deeply_bracketed_condition_is_refused() -> None:
    assert condition_cost("(" * 40 + "true" + ")" * 40) == ["brackets nest deeper than 32 levels"]


def test_one_comprehension_over_an_event_list_is_accepted_and_binds_its_variable() -> None:
    when = "props.items.exists(i, double(i.price) > 100.0) && props.items.all(i, i.quantity > 0)"
    text = f"scoring:\n  rules:\n    - {{event: purchase, points: 1, when: '{when}'}}\n"
    check = check_rules(text)
    assert check.rules is not None, check.problems
    condition = check.rules.conditions[0]
    items = [{"price": 150.0, "quantity": 1}]
    assert condition.evaluate({"props": {"items": items}}) is True


def test_compile_condition_refuses_what_the_check_refuses() -> None:
    with pytest.raises(ValueError, match="inside another"):
        compile_condition("[1].all(x, [1].all(y, true))")


def test_default_pack_is_within_every_bound() -> None:
    check = check_rules(DEFAULT, "default.yaml")
    assert check.problems == [] and check.rules is not None


def test_no_eval_exec_or_unsafe_yaml_anywhere_in_pulse() -> None:
    """Data is never code: no `eval`/`exec`/`compile` of text, no unsafe YAML loader."""
    import ast

    root = Path(__file__).resolve().parents[2]
    found = []
    for path in sorted(
        [*(root / "src" / "pulse").rglob("*.py"), *(root / "dataflows").rglob("*.py")]
    ):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if is_call and node.func.id in {"eval", "exec", "compile", "__import__"}:  # type: ignore[attr-defined]
                found.append(f"{path.name}:{node.lineno} {node.func.id}")
            if isinstance(node, ast.Attribute) and node.attr in {
                "unsafe_load",
                "full_load",
                "FullLoader",
                "UnsafeLoader",
            }:
                found.append(f"{path.name}:{node.lineno} yaml.{node.attr}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "Loader"
                and getattr(node.value, "id", "") == "yaml"
            ):
                found.append(f"{path.name}:{node.lineno} yaml.Loader")
    assert found == []
