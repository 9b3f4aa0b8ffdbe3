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
from pulse.rules.bounds import LimitError, compose_bounded, number_problems, read_rules_text
from pulse.rules.checks import (
    check_channels,
    check_consistency,
    check_durations,
    check_experiments,
    check_guardrails,
    check_reachability,
    check_sequences,
    compile_conditions,
)
from pulse.rules.merge import merge_documents
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
    return parse_rules(read_rules_text(path), str(path))


def parse_rules(text: str, source: str = "<rules>") -> Rules:
    """Validate rules given as YAML text; `source` names the file in messages."""
    check = check_rules(text, source)
    if check.rules is None:
        raise RuleError(check.problems)
    return check.rules


def check_rules(text: str, source: str = "<rules>") -> RulesCheck:
    """Validate rules given as YAML text, returning problems and warnings instead of raising.

    Never raises for any text: a file past the bounds of `pulse.rules.bounds` is a
    problem like any other.
    """
    problems = Problems(source)
    parsed = _parse(text, source)
    if isinstance(parsed, str):
        return RulesCheck(source=source, rules=None, problems=[parsed], warnings=[])
    node, document = parsed
    problems.node = node
    if document is None:
        document = {}
    if not isinstance(document, dict):
        problems.add("Expected a mapping at the top level", "$")
        return problems.result(None)
    for message, path in number_problems(document):
        problems.add(message, path, claim=True)
    base_text = ""
    if document.get("extends") is not None:
        extended = _extend(document, source, problems)
        if extended is None:
            return problems.result(None)
        document, base_text = extended
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
    check_durations(shell, indexed, problems)
    check_consistency(shell, scoring, indexed, known_types, problems)
    check_reachability(shell, scoring, origins, indexed, known_types, problems)
    check_guardrails(shell.guardrails, shell.triggers, problems)
    check_experiments(shell, indexed, problems)
    check_channels(indexed, known_types, problems)
    check_sequences(shell, indexed, known_types, problems)
    if problems.messages:
        return problems.result(None)
    version_text = text if not base_text else base_text + "\0" + text
    return problems.result(
        Rules(
            name=shell.name,
            version=hashlib.sha256(version_text.encode()).hexdigest()[:12],
            source=source,
            allowed_lateness_ms=shell.allowed_lateness.ms,
            session_gap_ms=shell.session_gap.ms,
            event_types=frozenset(shell.event_types),
            scoring=scoring,
            stages=shell.stages,
            triggers=triggers,
            conditions=conditions,
            model=shell.model,
            guardrails=shell.guardrails,
            experiments=shell.experiments,
            sequences=shell.sequences,
            warnings=tuple(problems.warnings),
        )
    )


def _parse(text: str, source: str) -> tuple[yaml.Node | None, Any] | str:
    """The YAML node tree and document, or the one message saying why there are none."""
    try:
        return compose_bounded(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, LimitError):
            return f"{source}: refused: the YAML has {reason}{where}"
        return f"{source}: invalid YAML: {reason}{where}"


def _extend(
    document: dict[str, Any], source: str, problems: Problems
) -> tuple[dict[str, Any], str] | None:
    """The document merged over its base pack, and the base's text; None after a problem."""
    name = document["extends"]
    if not isinstance(name, str) or not name:
        problems.add(f"Expected `default` or a rules file, got `{name!r}`", "$.extends")
        return None
    base_path = default_rules_path() if name == "default" else Path(source).parent / name
    try:
        base_text = read_rules_text(base_path)
    except RuleError as exc:
        problems.add(f"cannot extend `{name}`: {exc.problems[0]}", "$.extends")
        return None
    parsed = _parse(base_text, str(base_path))
    if isinstance(parsed, str) or not isinstance(parsed[1], dict | None):
        reason = parsed if isinstance(parsed, str) else "not a mapping"
        problems.add(f"cannot extend `{name}`: {reason}", "$.extends")
        return None
    base_node, base = parsed
    base = base or {}
    if base.get("extends") is not None:
        problems.add(f"cannot extend `{name}`: it uses `extends` itself", "$.extends")
        return None
    problems.base_node, problems.base_source = base_node, str(base_path)
    merged, problems.origins = merge_documents(base, document)
    return merged, base_text


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
    # A disabled rule is dropped here, so nothing downstream needs to know of `enabled`.
    kept = [(index, rule) for index, rule in indexed if rule.enabled]
    named = [r if r.name else msgspec.structs.replace(r, name=r.event) for _, r in kept]
    return msgspec.structs.replace(head, rules=named), [index for index, _ in kept]


def _named(spec: TriggerSpec) -> TriggerSpec:
    kind = type(spec).__struct_config__.tag
    return spec if spec.name else msgspec.structs.replace(spec, name=str(kind))
