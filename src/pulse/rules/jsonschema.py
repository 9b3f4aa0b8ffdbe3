"""A JSON Schema of the rules file, for editor completion and validation as you type.

Generated from the same msgspec structs the loader decodes with, so it cannot drift
from what `pulse check` accepts (the loader stays the authority: it also checks
conditions, bounds and contradictions a schema cannot express).

>>> schema = rules_json_schema()
>>> schema["$ref"], "AbandonCart" in schema["$defs"]
('#/$defs/RulesFile', True)
"""

from __future__ import annotations

from typing import Any

import msgspec

from pulse.rules.schema import CapSpan, Duration, Scoring, TriggerSpec, _File
from pulse.spec import Reentry

__all__ = ["rules_json_schema"]

_DURATION_FORMS: list[dict[str, Any]] = [
    {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*[smhdw]\s*)+$"},
    {"type": "number", "minimum": 0},
]
_DURATION = {
    "title": "Duration",
    "description": "A span of event time: `90s`, `30m`, `1h30m`, `14d`, `2w`, or seconds.",
    "anyOf": _DURATION_FORMS,
}


class RulesFile(_File, frozen=True):
    """A pulse rules file (`rules/default.yaml` is the commented example)."""

    # The loader reads these two sections itself (to report every problem with its
    # path and line); the schema describes what it accepts.
    scoring: Scoring | None = None
    triggers: list[TriggerSpec] = msgspec.field(default_factory=list)


def _hook(type_: Any) -> dict[str, Any]:
    if type_ is Duration:
        return dict(_DURATION)
    if type_ is CapSpan:
        return {
            "title": "CapSpan",
            "description": "`day` (the contact's local calendar day) or a rolling duration.",
            "anyOf": [{"const": "day"}, *_DURATION_FORMS],
        }
    if type_ is Reentry:
        return {
            "title": "Reentry",
            "description": "`always`, `never`, or a duration since the last sequence started.",
            "anyOf": [{"const": "always"}, {"const": "never"}, *_DURATION_FORMS],
        }
    raise NotImplementedError


def rules_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a rules file."""
    schema: dict[str, Any] = msgspec.json.schema(RulesFile, schema_hook=_hook)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "pulse rules file"
    return schema
