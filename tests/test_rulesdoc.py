"""The rules reference is generated from the schema and the committed copy is current."""

from __future__ import annotations

import typing
from pathlib import Path

import msgspec
import pytest

from pulse.cli import main
from pulse.rules import schema
from pulse.rulesdoc import missing_descriptions, render_reference

COMMITTED = Path(__file__).parent.parent / "docs" / "rules-reference.md"


def test_committed_reference_matches_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_reference(), (
        "docs/rules-reference.md is stale: run `pulse rules-doc`"
    )


def test_every_schema_field_has_a_description() -> None:
    assert missing_descriptions() == []


def test_reference_names_every_field_of_every_rules_struct() -> None:
    page = render_reference()
    structs = [schema.Scoring, schema.PointRule, schema.Stages, schema._Trigger,
               *typing.get_args(schema.TriggerSpec)]  # fmt: skip
    for struct in structs:
        for field in msgspec.structs.fields(struct):
            own_section = f"## `scoring.{field.name}[]`"  # `scoring.rules` has one
            is_listed = f".{field.name}` |" in page or own_section in page
            assert is_listed, f"{struct.__name__}.{field.name} missing"
    for field in msgspec.structs.fields(schema._File):
        assert f"`{field.name}" in page


def test_rules_doc_check_fails_on_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "ref.md"
    stale.write_text("# old\n")
    assert main(["rules-doc", "--check", "-o", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["rules-doc", "-o", str(stale)]) == 0
    assert main(["rules-doc", "--check", "-o", str(stale)]) == 0
