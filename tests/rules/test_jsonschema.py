"""The exported JSON Schema accepts every rules file pulse accepts, and refuses typos."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from pulse.errors import RuleError
from pulse.rules import default_rules_path, load_rules
from pulse.rules.jsonschema import rules_json_schema

REPO = Path(__file__).resolve().parents[2]
RULES_FILES = sorted(
    {
        default_rules_path(),
        *REPO.glob("rules/*.yaml"),
        *REPO.glob("bench/rules/*.yaml"),
        *REPO.glob("tests/golden/rules/*.yaml"),
    }
)


def _valid(path: Path) -> bool:
    try:
        load_rules(path)
    except RuleError:
        return False
    return True


@pytest.mark.parametrize("path", [p for p in RULES_FILES if _valid(p)], ids=lambda p: p.name)
def test_every_rules_file_pulse_accepts_validates_against_the_schema(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    jsonschema.validate(document, rules_json_schema())


@pytest.mark.parametrize(
    "document",
    [
        {"triggers": [{"kind": "welcom"}]},
        {"triggers": [{"kind": "abandon_cart", "afterr": "30m"}]},
        {"scoring": {"rules": [{"event": "page_view", "points": "one"}]}},
        {"allowed_lateness": "soon"},
        {"unknown_section": 1},
    ],
)
def test_schema_refuses_what_pulse_check_refuses(document: dict[str, object]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, rules_json_schema())


def test_a_file_extending_the_default_pack_validates() -> None:
    document = {"extends": "default", "triggers": [{"kind": "abandon_cart", "after": "1h"}]}
    jsonschema.validate(document, rules_json_schema())


def test_rules_doc_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "pulse-rules.schema.json"
    subprocess.run(
        [sys.executable, "-m", "pulse.cli", "rules-doc", "--json-schema", str(out)],
        check=True,
        capture_output=True,
    )
    schema = json.loads(out.read_text())
    assert schema == rules_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
