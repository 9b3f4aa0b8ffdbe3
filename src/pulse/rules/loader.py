"""Loading a rules file: YAML to structs, every problem collected, conditions compiled.

`load_rules` returns a `Rules` or raises `RuleError` listing every problem;
`check_rules` returns problems and warnings for `pulse check`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import msgspec
import yaml

from pulse.errors import RuleError
from pulse.events import CANONICAL_TYPES
from pulse.rules.checks import check_consistency, check_reachability, compile_conditions
from pulse.rules.problems import Problems, RulesCheck
from pulse.rules.schema import (
    PointRule,
    Rules,
    Scoring,
    TriggerSpec,
    _File,
)

__all__ = ["RulesCheck", "check_rules", "default_rules_path", "load_rules", "parse_rules"]


def default_rules_path() -> Path:
    """The default e-commerce pack: `rules/default.yaml` in a checkout, else the packaged copy."""
    checkout = Path(__file__).resolve().parents[3] / "rules" / "default.yaml"
    if checkout.is_file():
        return checkout
    return Path(__file__).resolve().parents[1] / "_data" / "default.yaml"


def load_rules(path: str | Path) -> Rules:
    """Read and validate a rules file; raises `RuleError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError([f"{path}: cannot read rules file: {exc.strerror}"]) from exc
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str = "<rules>") -> Rules:
    """Validate rules given as YAML text; `source` names the file in messages."""
    check = check_rules(text, source)
    if check.rules is None:
        raise RuleError(check.problems)
    return check.rules


def check_rules(text: str, source: str = "<rules>") -> RulesCheck:
    """Validate rules given as YAML text, returning problems and warnings instead of raising."""
    problems = Problems(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return RulesCheck(
            source=source, rules=None, problems=[f"{source}: invalid YAML: {reason}{where}"],
            warnings=[],
        )  # fmt: skip
    problems.node = node
    if document is None:
        document = {}
    if not isinstance(document, dict):
        problems.add("Expected a mapping at the top level", "$")
        return problems.result(None)
    shell = problems.convert(document, _File, "$")
    if shell is None:
        return problems.result(None)
    scoring, origins = _convert_scoring(shell.scoring, problems)
    indexed = [
        (index, _named(spec))
        for index, raw in enumerate(shell.triggers)
        if (spec := problems.convert(raw, TriggerSpec, f"$.triggers[{index}]")) is not None
    ]
    triggers = tuple(spec for _, spec in indexed)
    known_types = CANONICAL_TYPES | frozenset(shell.event_types)
    conditions = compile_conditions(scoring, origins, known_types, problems)
    check_consistency(shell, scoring, indexed, known_types, problems)
    check_reachability(shell, scoring, origins, indexed, known_types, problems)
    if problems.messages:
        return problems.result(None)
    return problems.result(
        Rules(
            name=shell.name,
            version=hashlib.sha256(text.encode()).hexdigest()[:12],
            source=source,
            allowed_lateness_ms=shell.allowed_lateness.ms,
            session_gap_ms=shell.session_gap.ms,
            event_types=frozenset(shell.event_types),
            scoring=scoring,
            stages=shell.stages,
            triggers=triggers,
            conditions=conditions,
            model=shell.model,
            warnings=tuple(problems.warnings),
        )
    )


def _convert_scoring(raw: Any, problems: Problems) -> tuple[Scoring, list[int]]:
    """Each point rule converted on its own, so one bad rule does not hide the next.

    Returns the scoring and, per valid rule, its index in the file (for messages).
    """
    if raw is None:
        return Scoring(), []
    if not isinstance(raw, dict):
        problems.add("Expected `object`", "$.scoring")
        return Scoring(), []
    raw_rules = raw.get("rules") or []
    if not isinstance(raw_rules, list):
        problems.add("Expected `array`", "$.scoring.rules")
        raw_rules = []
    head = problems.convert({**raw, "rules": []}, Scoring, "$.scoring") or Scoring()
    indexed = [
        (index, rule)
        for index, item in enumerate(raw_rules)
        if (rule := problems.convert(item, PointRule, f"$.scoring.rules[{index}]")) is not None
    ]
    named = [r if r.name else msgspec.structs.replace(r, name=r.event) for _, r in indexed]
    return msgspec.structs.replace(head, rules=named), [index for index, _ in indexed]


def _named(spec: TriggerSpec) -> TriggerSpec:
    kind = type(spec).__struct_config__.tag
    return spec if spec.name else msgspec.structs.replace(spec, name=str(kind))
