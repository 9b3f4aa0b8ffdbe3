"""Rules files: the YAML schema, its loader, and the checks that refuse a bad file.

A rules file is data, never code: it is decoded with msgspec into the structs
below, durations are parsed (`30m`, `14d`), and user-written conditions are CEL
expressions compiled once at load. `load_rules` either returns a `Rules` or
raises `RuleError` listing *every* problem, each naming the file, the path
inside it (`$.triggers[1].after`) and the line.

Read `rules/default.yaml` for a commented example of every field.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from pulse.conditions import (
    CONDITION_VARIABLES,
    KNOWN_PROPS,
    Condition,
    compile_condition,
    lint_condition,
    unknown_props,
)
from pulse.duration import parse_duration_ms
from pulse.errors import RuleError
from pulse.events import CANONICAL_TYPES, VENDOR_TYPES

__all__ = [
    "Duration",
    "ModelSpec",
    "PointRule",
    "Rules",
    "RulesCheck",
    "Scoring",
    "Stages",
    "TriggerSpec",
    "check_rules",
    "default_rules_path",
    "load_rules",
    "parse_rules",
]


class Duration:
    """A span of event time, written `30m`, `1h30m`, `14d` or as seconds."""

    __slots__ = ("ms",)

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __repr__(self) -> str:
        return f"Duration(ms={self.ms})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.ms == self.ms

    def __hash__(self) -> int:
        return hash(self.ms)


def _dur(text: str) -> Any:
    return msgspec.field(default_factory=lambda: Duration(parse_duration_ms(text)))


class _Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class PointRule(_Spec, frozen=True):
    """Points for an event type, optionally only when a CEL condition holds."""

    event: str
    points: float
    name: str = ""
    when: str | None = None
    cap: float | None = None


class Scoring(_Spec, frozen=True):
    """Rule points with continuous decay: `score * 2^(-dt / half_life)`."""

    half_life: Duration = _dur("14d")
    total_cap: float = 200.0
    rules: list[PointRule] = []


class Stages(_Spec, frozen=True):
    """Lifecycle stage thresholds; `lost` is set by the `lost_customer` trigger."""

    consideration_score: float = 10.0
    decision_score: float = 40.0
    cart_means_decision: bool = True
    loyal_purchases: int = 3


class _Trigger(_Spec, frozen=True, tag_field="kind"):
    name: str = ""
    channel: str | None = None
    enabled: bool = True


class Welcome(_Trigger, frozen=True, tag="welcome"):
    """A contact's first `signup`."""

    event: str = "signup"


class AbandonCart(_Trigger, frozen=True, tag="abandon_cart"):
    """Cart not empty and no checkout or purchase within `after` of the last add."""

    after: Duration = _dur("30m")
    min_cart_value: float = 0.0
    cancel_on: list[str] = msgspec.field(default_factory=lambda: ["checkout_started", "purchase"])


class BrowseAbandon(_Trigger, frozen=True, tag="browse_abandon"):
    """`min_views` views of one product in a session and no add to cart within `after`."""

    min_views: int = 3
    after: Duration = _dur("1h")


class SalesReady(_Trigger, frozen=True, tag="sales_ready"):
    """Score crosses `threshold` upward; re-armed once it falls below `rearm_below`."""

    threshold: float = 60.0
    rearm_below: float = 40.0


class Rescue(_Trigger, frozen=True, tag="rescue"):
    """An engaged contact (`min_events_30d`) silent for `silent_for`; once per episode."""

    silent_for: Duration = _dur("14d")
    min_events_30d: int = 5


class LostCustomer(_Trigger, frozen=True, tag="lost_customer"):
    """A customer silent for `silent_for`; marked lost and suppressed until it returns."""

    silent_for: Duration = _dur("90d")


class WelcomeBack(_Trigger, frozen=True, tag="welcome_back"):
    """A lost contact returns."""


class PostPurchase(_Trigger, frozen=True, tag="post_purchase"):
    """A follow-up `after` a purchase, cancelled by a refund of that order."""

    after: Duration = _dur("3d")


TriggerSpec = (
    Welcome
    | AbandonCart
    | BrowseAbandon
    | SalesReady
    | Rescue
    | LostCustomer
    | WelcomeBack
    | PostPurchase
)
TriggerKind = Literal[
    "welcome", "abandon_cart", "browse_abandon", "sales_ready",
    "rescue", "lost_customer", "welcome_back", "post_purchase",
]  # fmt: skip


class ModelSpec(_Spec, frozen=True):
    """The online model: river learns from conversions as they happen (see `pulse.model`)."""

    enabled: bool = True
    kind: Literal["logistic", "hoeffding_tree"] = "logistic"
    learning_rate: float = 0.05
    l2: float = 0.0
    weight: float = 40.0
    """Blended score = rule points + weight x probability of a purchase within `horizon`."""
    warmup_labels: int = 200
    """The probability counts in the score only once this many labels were learned."""
    horizon: Duration = _dur("7d")
    sample_every: Duration = _dur("1d")
    """At most one stored feature vector per contact per this long (bounds memory)."""
    max_pending: int = 2
    learn_every: Duration = _dur("1h")
    """Event-time cadence at which resolved labels are learned (keeps replays deterministic)."""
    premium_price: float = 100.0
    """Product views at or above this price count as `premium_views`."""
    features: list[str] = []
    """Feature names to use; empty means all (see README)."""


class _File(_Spec, frozen=True):
    version: Literal[1] = 1
    name: str = "rules"
    allowed_lateness: Duration = _dur("5s")
    session_gap: Duration = _dur("30m")
    event_types: list[str] = []
    scoring: Any = None
    stages: Stages = msgspec.field(default_factory=Stages)
    model: ModelSpec = msgspec.field(default_factory=ModelSpec)
    triggers: list[Any] = []


class Rules(msgspec.Struct, frozen=True, kw_only=True):
    """A loaded, validated rules file, its conditions compiled."""

    name: str
    version: str
    source: str
    allowed_lateness_ms: int
    session_gap_ms: int
    event_types: frozenset[str]
    scoring: Scoring
    stages: Stages
    triggers: tuple[TriggerSpec, ...]
    conditions: dict[int, Condition]
    """Compiled condition per index into `scoring.rules`, for the rules with a `when`."""
    model: ModelSpec = msgspec.field(default_factory=ModelSpec)

    warnings: tuple[str, ...] = ()
    """What `check_rules` found suspicious but not wrong (unused definitions, ...)."""

    def rules_for(self, event_type: str) -> Iterator[tuple[int, PointRule]]:
        """The point rules that apply to an event type, with their indexes."""
        for index, rule in enumerate(self.scoring.rules):
            if rule.event == event_type:
                yield index, rule


def default_rules_path() -> Path:
    """The default e-commerce pack: `rules/default.yaml` in a checkout, else the packaged copy."""
    checkout = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"
    if checkout.is_file():
        return checkout
    return Path(__file__).resolve().parent / "_data" / "default.yaml"


def load_rules(path: str | Path) -> Rules:
    """Read and validate a rules file; raises `RuleError` listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError([f"{path}: cannot read rules file: {exc.strerror}"]) from exc
    return parse_rules(text, str(path))


class RulesCheck(msgspec.Struct, frozen=True, kw_only=True):
    """What `check_rules` found: the rules when valid, every problem and every warning."""

    source: str
    rules: Rules | None
    problems: list[str]
    """Errors: the file is refused while there is one."""
    warnings: list[str]
    """Suspicious but valid: unused definitions, thresholds no score reaches, ..."""


def parse_rules(text: str, source: str = "<rules>") -> Rules:
    """Validate rules given as YAML text; `source` names the file in messages."""
    check = check_rules(text, source)
    if check.rules is None:
        raise RuleError(check.problems)
    return check.rules


def check_rules(text: str, source: str = "<rules>") -> RulesCheck:
    """Validate rules given as YAML text, returning problems and warnings instead of raising."""
    problems = _Problems(source)
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
    conditions = _compile_conditions(scoring, origins, known_types, problems)
    _check_consistency(shell, scoring, indexed, known_types, problems)
    _check_reachability(shell, scoring, origins, indexed, known_types, problems)
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


def _convert_scoring(raw: Any, problems: _Problems) -> tuple[Scoring, list[int]]:
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


def trigger_kind(spec: TriggerSpec) -> TriggerKind:
    """The `kind` tag of a trigger spec."""
    kind: TriggerKind = type(spec).__struct_config__.tag  # type: ignore[assignment]
    return kind


def _compile_conditions(
    scoring: Scoring, origins: list[int], known_types: frozenset[str], problems: _Problems
) -> dict[int, Condition]:
    conditions: dict[int, Condition] = {}
    for index, rule in enumerate(scoring.rules):
        path = f"$.scoring.rules[{origins[index]}]"
        if rule.event not in known_types:
            problems.add(
                f"unknown event type `{rule.event}` (declare it under `event_types`)",
                f"{path}.event",
            )
        if rule.when is None:
            continue
        try:
            condition = compile_condition(rule.when)
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            problems.add(f"condition does not compile: {first}", f"{path}.when")
            continue
        unknown = condition.variables - CONDITION_VARIABLES
        if unknown:
            names = ", ".join(f"`{n}`" for n in sorted(unknown))
            allowed = ", ".join(f"`{n}`" for n in sorted(CONDITION_VARIABLES))
            problems.add(f"condition uses unknown name {names}; use {allowed}", f"{path}.when")
            continue
        for message in lint_condition(condition, rule.event, known_types):
            problems.add(message, f"{path}.when")
        for name in unknown_props(condition):
            known = ", ".join(f"`{n}`" for n in sorted(KNOWN_PROPS))
            problems.warn(
                f"condition reads `props.{name}`, which pulse does not know ({known}); "
                "events without it never satisfy the condition",
                f"{path}.when",
            )
        conditions[index] = condition
    return conditions


def _check_consistency(
    shell: _File,
    scoring: Scoring,
    triggers: list[tuple[int, TriggerSpec]],
    known_types: frozenset[str],
    problems: _Problems,
) -> None:
    if shell.stages.consideration_score > shell.stages.decision_score:
        problems.add(
            "`consideration_score` must not exceed `decision_score`",
            "$.stages.consideration_score",
        )
    if scoring.half_life.ms <= 0:
        problems.add("`half_life` must be longer than zero", "$.scoring.half_life")
    seen: dict[str, int] = {}
    for index, spec in triggers:
        path = f"$.triggers[{index}]"
        if spec.name in seen:
            problems.add(
                f"trigger name `{spec.name}` is already used at `$.triggers[{seen[spec.name]}]`",
                f"{path}.name",
            )
        seen[spec.name] = index
        match spec:
            case SalesReady() if spec.rearm_below > spec.threshold:
                problems.add(
                    f"`rearm_below` ({spec.rearm_below}) is above `threshold` ({spec.threshold})",
                    f"{path}.rearm_below",
                )
            case BrowseAbandon() if spec.min_views < 1:
                problems.add("`min_views` must be at least 1", f"{path}.min_views")
            case AbandonCart():
                for at, name in enumerate(spec.cancel_on):
                    if name not in known_types:
                        problems.add(f"unknown event type `{name}`", f"{path}.cancel_on[{at}]")
            case Welcome() if spec.event not in known_types:
                problems.add(f"unknown event type `{spec.event}`", f"{path}.event")
            case _:
                pass


def _check_reachability(
    shell: _File,
    scoring: Scoring,
    origins: list[int],
    triggers: list[tuple[int, TriggerSpec]],
    known_types: frozenset[str],
    problems: _Problems,
) -> None:
    """Errors for what can never happen (a trigger that never fires, a rule that never
    scores); warnings for definitions nothing uses and thresholds no score reaches."""
    used_types: set[str] = set()
    vendor_hint = (
        "is renamed to `{0}` when events are decoded, so no event has this type; use `{0}`"
    )

    def refer(event_type: str, path: str) -> None:
        used_types.add(event_type)
        # An undeclared vendor name is already reported as an unknown type.
        is_declared_vendor_name = event_type in VENDOR_TYPES and event_type in shell.event_types
        if is_declared_vendor_name and event_type not in CANONICAL_TYPES:
            problems.add(f"`{event_type}` " + vendor_hint.format(VENDOR_TYPES[event_type]), path)

    names: dict[str, int] = {}
    for index, rule in enumerate(scoring.rules):
        path = f"$.scoring.rules[{origins[index]}]"
        refer(rule.event, f"{path}.event")
        if rule.when is not None:
            # Mentioned anywhere in the condition is use enough for an unused-definition warning.
            used_types.update(t for t in shell.event_types if t in rule.when)
        if rule.name in names:
            problems.warn(
                f"rule name `{rule.name}` is also used at `$.scoring.rules[{names[rule.name]}]`: "
                "the two share their points and cap (give one a `name`)",
                f"{path}.name" if rule.name != rule.event else f"{path}.event",
            )
        names.setdefault(rule.name, origins[index])
        if rule.points == 0:
            problems.warn(f"rule `{rule.name}` adds 0 points", f"{path}.points")
        if rule.cap is not None and rule.points > 0 and rule.cap <= 0:
            problems.add(
                f"rule `{rule.name}` can never add points: `cap` ({rule.cap}) is not above 0",
                f"{path}.cap",
            )
    total_cap = scoring.total_cap
    if total_cap <= 0:
        problems.add("`total_cap` must be above 0: every score would be 0", "$.scoring.total_cap")
    for field in ("consideration_score", "decision_score"):
        threshold = getattr(shell.stages, field)
        if 0 < total_cap < threshold:
            problems.warn(
                f"`{field}` ({threshold}) is above `total_cap` ({total_cap}): no score reaches it",
                f"$.stages.{field}",
            )
    if shell.stages.loyal_purchases < 1:
        problems.add(
            "`loyal_purchases` must be at least 1 (one purchase makes a `customer`)",
            "$.stages.loyal_purchases",
        )

    enabled = {trigger_kind(spec) for _, spec in triggers if spec.enabled}
    for index, spec in triggers:
        path = f"$.triggers[{index}]"
        if not spec.enabled:
            problems.warn(
                f"trigger `{spec.name}` is disabled (`enabled: false`)", f"{path}.enabled"
            )
        match spec:
            case AbandonCart():
                for at, name in enumerate(spec.cancel_on):
                    refer(name, f"{path}.cancel_on[{at}]")
                    if name == "add_to_cart":
                        problems.add(
                            f"trigger `{spec.name}` can never fire: the `add_to_cart` that arms "
                            "it also cancels it",
                            f"{path}.cancel_on[{at}]",
                        )
                if spec.min_cart_value < 0:
                    problems.add(
                        f"`min_cart_value` ({spec.min_cart_value}) must not be negative: "
                        "a cart's value never is",
                        f"{path}.min_cart_value",
                    )
            case Welcome():
                refer(spec.event, f"{path}.event")
            case SalesReady() if spec.threshold > total_cap > 0:
                problems.add(
                    f"trigger `{spec.name}` can never fire: `threshold` ({spec.threshold}) is "
                    f"above `total_cap` ({total_cap})",
                    f"{path}.threshold",
                )
            case SalesReady() if spec.threshold <= 0:
                problems.warn(
                    f"trigger `{spec.name}` fires on every contact's first event: "
                    f"`threshold` ({spec.threshold}) is not above 0",
                    f"{path}.threshold",
                )
            case WelcomeBack() if spec.enabled and "lost_customer" not in enabled:
                problems.add(
                    f"trigger `{spec.name}` can never fire: only an enabled `lost_customer` "
                    "trigger marks contacts lost",
                    f"{path}.kind",
                )
            case _:
                pass

    for index, name in enumerate(shell.event_types):
        path = f"$.event_types[{index}]"
        if name in CANONICAL_TYPES:
            problems.warn(f"`{name}` is a canonical event type: declaring it does nothing", path)
        elif name in VENDOR_TYPES:
            problems.warn(f"`{name}` " + vendor_hint.format(VENDOR_TYPES[name]), path)
        elif name not in used_types:
            problems.warn(
                f"event type `{name}` is declared but no rule, condition or trigger uses it "
                "(its events are only accepted and counted)",
                path,
            )


_AT_PATH = re.compile(r" - at `(\$[^`]*)`$")


class _Problems:
    """Collects messages, each with file, path and line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.node: yaml.Node | None = None
        self.messages: list[str] = []
        self.warnings: list[str] = []

    def add(self, message: str, path: str) -> None:
        line = _line_of(self.node, path)
        where = f" (line {line})" if line else ""
        self.messages.append(f"{self.source}: {message} - at `{path}`{where}")

    def warn(self, message: str, path: str) -> None:
        line = _line_of(self.node, path)
        where = f" (line {line})" if line else ""
        self.warnings.append(f"{self.source}: warning: {message} - at `{path}`{where}")

    def result(self, rules: Rules | None) -> RulesCheck:
        return RulesCheck(
            source=self.source, rules=rules, problems=self.messages, warnings=self.warnings
        )

    def convert(self, value: Any, type_: Any, path: str) -> Any:
        try:
            return msgspec.convert(value, type_, dec_hook=_decode_hook)
        except msgspec.ValidationError as exc:
            message = str(exc)
            match = _AT_PATH.search(message)
            inner = match.group(1) if match else "$"
            self.add(message[: match.start()] if match else message, path + inner[1:])
            return None


def _decode_hook(type_: type, value: Any) -> Any:
    if type_ is Duration:
        try:
            return Duration(parse_duration_ms(value))
        except ValueError as exc:
            raise ValueError(f"Expected `duration` like `30m` or `14d`, got `{value!r}`") from exc
    raise NotImplementedError


_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _line_of(node: yaml.Node | None, path: str) -> int | None:
    """The 1-based line of the deepest YAML node on `path` (`$.a.b[2].c`)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key, index in _SEGMENT.findall(path[1:]):
        child: yaml.Node | None = None
        if key and isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
            if child is not None:
                key_node = next(k for k, v in node.value if v is child)
                line = key_node.start_mark.line + 1
        elif index and isinstance(node, yaml.SequenceNode) and int(index) < len(node.value):
            child = node.value[int(index)]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
