"""Rules files: the YAML schema, its loader, and the checks that refuse a bad file.

A rules file is data, never code: it is decoded with msgspec into the structs of
`schema`, durations are parsed (`30m`, `14d`), and user-written conditions are CEL
expressions compiled once at load (`loader`). `load_rules` either returns a `Rules`
or raises `RuleError` listing *every* problem (`problems`, `checks`), each naming the
file, the path inside it (`$.triggers[1].after`) and the line.

Read `rules/default.yaml` for a commented example of every field.
"""

from __future__ import annotations

from pulse.rules.bounds import read_rules_text
from pulse.rules.loader import RulesCheck, check_rules, default_rules_path, load_rules, parse_rules
from pulse.rules.schema import (
    AbandonCart,
    BrowseAbandon,
    CapSpan,
    ChannelOption,
    Duration,
    ExclusionGroup,
    Experiments,
    FrequencyCap,
    Guardrails,
    LostCustomer,
    ModelSpec,
    PointRule,
    PostPurchase,
    QuietHours,
    Rescue,
    Rules,
    SalesReady,
    Scoring,
    Stages,
    TriggerKind,
    TriggerSpec,
    Welcome,
    WelcomeBack,
    trigger_kind,
)

__all__ = [
    "AbandonCart",
    "BrowseAbandon",
    "CapSpan",
    "ChannelOption",
    "Duration",
    "ExclusionGroup",
    "Experiments",
    "FrequencyCap",
    "Guardrails",
    "LostCustomer",
    "ModelSpec",
    "PointRule",
    "PostPurchase",
    "QuietHours",
    "Rescue",
    "Rules",
    "RulesCheck",
    "SalesReady",
    "Scoring",
    "Stages",
    "TriggerKind",
    "TriggerSpec",
    "Welcome",
    "WelcomeBack",
    "check_rules",
    "default_rules_path",
    "load_rules",
    "parse_rules",
    "read_rules_text",
    "trigger_kind",
]
