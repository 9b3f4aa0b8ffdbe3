"""The rules reference (`docs/rules-reference.md`), generated from the rules schema.

Field names, types and defaults come from the msgspec structs in `pulse.rules`
and, for triggers, from each kind's spec in the registry `pulse.triggers.KINDS`;
descriptions from the docstrings written under their fields there, else from
`DESCRIPTIONS` below; examples from `EXAMPLES`, else from the default. A test
fails when the committed reference differs from what `render_reference`
makes, and when a field has no description, so the two never drift apart.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import types
import typing
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import msgspec

from pulse.duration import format_duration
from pulse.rules import schema
from pulse.spec import ChannelOption, Reentry, SequenceStep
from pulse.triggers import KINDS, TriggerSpecBase

__all__ = ["DESCRIPTIONS", "EXAMPLES", "missing_descriptions", "render_reference"]

DESCRIPTIONS: dict[str, str] = {
    "_File.version": "Schema version of the file; only `1` exists.",
    "_File.name": "A label for the pack, shown by `pulse check`.",
    "_File.allowed_lateness": (
        "How far behind the newest event an event may arrive and still count as on time; "
        "the watermark is the newest event time minus this."
    ),
    "_File.session_gap": "Inactivity that starts a new session.",
    "_File.event_types": (
        "Event types to accept beyond the canonical vocabulary; other types are dead-lettered."
    ),
    "Scoring.half_life": "Points decay as `points * 2^(-elapsed / half_life)`, in event time.",
    "Scoring.total_cap": "The score never exceeds this (nor goes below 0).",
    "PointRule.event": "Event type the rule scores.",
    "PointRule.points": "Points per event (negative allowed).",
    "PointRule.name": (
        "Unique rule name, shown in score breakdowns; points are held per name. "
        "Defaults to the event type."
    ),
    "PointRule.when": (
        "CEL condition over `type`, `ts` (epoch ms), `props` and `contact` (`score`, `stage`, "
        "`purchases`, `revenue`, `cart_value`, `events_24h`, `events_7d`, `events_30d`). "
        "A condition that errors on an event (a missing field) does not hold."
    ),
    "PointRule.cap": "Most points this rule may hold (after decay).",
    "Stages.consideration_score": "Score from which a contact is in `consideration`.",
    "Stages.decision_score": "Score from which a contact is in `decision`.",
    "Stages.cart_means_decision": "An open cart puts a contact in `decision` whatever its score.",
    "Stages.loyal_purchases": "Purchases that make a customer `loyal` (one makes a `customer`).",
    "ModelSpec.enabled": "Whether the online model scores contacts at all.",
    "ModelSpec.kind": "The river model: logistic regression or a Hoeffding tree.",
    "ModelSpec.learning_rate": "Step size of the model's online updates.",
    "ModelSpec.l2": "L2 regularisation of the logistic regression.",
    "ModelSpec.horizon": (
        "A purchase within this long after scoring makes a stored vector a positive label; "
        "the horizon passing makes it negative."
    ),
    "ModelSpec.max_pending": "Most feature vectors a contact keeps waiting for their label.",
    "TriggerSpecBase.kind": "What the trigger does (the sections below).",
    "TriggerSpecBase.name": "Its name in the output; unique. Defaults to the kind.",
    "TriggerSpecBase.channel": "Routing hint copied to the trigger (`email`, `crm`, ...).",
    "TriggerSpecBase.enabled": "`false` turns the trigger off (and `pulse check` warns).",
}
"""Descriptions of fields that have no docstring in `pulse.rules`, by `Struct.field`."""

EXAMPLES: dict[str, str] = {
    "_File.event_types": "event_types: [trial_started, demo_booked]",
    "_File.name": "name: default-ecommerce",
    "PointRule.event": "- {event: product_view, points: 2}",
    "PointRule.points": "- {event: refund, points: -15}",
    "PointRule.name": "- {name: premium_product_view, event: product_view, points: 3}",
    "PointRule.when": '- {event: product_view, points: 3, when: "double(props.price) >= 200.0"}',
    "PointRule.cap": "- {event: page_view, points: 1, cap: 15}",
    "ModelSpec.features": "features: [events_24h, cart_value]",
    "TriggerSpecBase.kind": "- kind: abandon_cart",
    "TriggerSpecBase.name": "- {kind: abandon_cart, name: late_nudge, after: 2h}",
    "TriggerSpecBase.channel": "- {kind: welcome, channel: email}",
    "TriggerSpecBase.enabled": "- {kind: rescue, enabled: false}",
    "_File.extends": "extends: default",
    "PointRule.enabled": "- {name: premium_product_view, enabled: false}",
    "Guardrails.frequency_caps": (
        "frequency_caps: [{channel: email, max: 3, per: 1d}, {channel: all, max: 1, per: day}]"
    ),
    "Guardrails.cooldowns": "cooldowns: {abandon_cart: 1d}",
    "Guardrails.quiet_hours": 'quiet_hours: {start: "22:00", end: "07:00", channels: [email]}',
    "Guardrails.default_timezone": "default_timezone: Europe/Paris",
    "Guardrails.exclusive": "exclusive: [{triggers: [abandon_cart, browse_abandon], within: 1d}]",
    "TriggerSpecBase.priority": "- {kind: abandon_cart, priority: 2}",
    "TriggerSpecBase.channels": "channels: [email, {channel: sms, require: [consented]}]",
    "TriggerSpecBase.fallback_after": "- {kind: abandon_cart, channels: [email, sms], "
    "fallback_after: 48h}",
    "TriggerSpecBase.engagement": "engagement: [email_click]",
    "TriggerSpecBase.holdout": "- {kind: abandon_cart, holdout: 0.1}",
    "TriggerSpecBase.variants": "- {kind: welcome, variants: [short, long]}",
    "TriggerSpecBase.goal": "- {kind: browse_abandon, goal: add_to_cart, goal_within: 1d}",
    "Experiments.control_share": "control_share: 0.05",
    "FrequencyCap.channel": "- {channel: all, max: 4, per: 1w}",
    "FrequencyCap.max": "- {channel: email, max: 1, per: day}",
    "ExclusionGroup.triggers": "- {triggers: [abandon_cart, browse_abandon, rescue]}",
    "ChannelOption.channel": "- {channel: sms, require: [consented, has_address]}",
    "ChannelOption.require": "require: [consented, has_address]",
    "TriggerSpecBase.steps": "steps: [{name: tips, after: 2d}, {name: offer, after: 5d}]",
    "TriggerSpecBase.exit_on": "exit_on: [purchase]",
    "TriggerSpecBase.reentry": "reentry: 30d",
    "SequenceStep.name": "- {name: review, after: 7d, channel: email}",
    "SequenceStep.after": "after: 2d",
    "SequenceStep.channel": "channel: sms",
    "SequenceStep.channels": "channels: [email, sms]",
}
"""Examples where the default does not make a good one, by `Struct.field`."""

_SECTIONS: list[tuple[str, str, Any, tuple[str, ...]]] = [
    (
        "Top level",
        "",
        schema._File,
        ("scoring", "stages", "model", "triggers", "guardrails", "experiments", "sequences"),
    ),
    ("`scoring`", "scoring.", schema.Scoring, ("rules",)),
    ("`scoring.rules[]`", "scoring.rules[].", schema.PointRule, ()),
    ("`stages`", "stages.", schema.Stages, ()),
]
"""(title, path prefix, struct, fields documented in a section of their own)."""


def render_reference() -> str:
    """The whole reference page, as Markdown."""
    out = [
        "# Rules reference",
        "",
        "<!-- Generated by `pulse rules-doc` from the schema in `src/pulse/rules/schema.py`; "
        "do not edit by hand. -->",
        "",
        "A rules file is YAML; every field is optional unless marked *required*. Durations are "
        "written `90s`, `30m`, `1h30m`, `14d`, `2w`, or as a number of seconds. "
        "`pulse check RULES...` validates a file and lists every problem; "
        "`rules/default.yaml` is a commented example of every field.",
        "",
    ]
    for title, prefix, struct, skip in _sections():
        out += _section(title, prefix, struct, skip)
    out += [
        "## `triggers[]`",
        "",
        "A list of triggers. Every trigger has these fields; `kind` picks the rest.",
        "",
        *_table("triggers[].", TriggerSpecBase, (), extra=[("kind", _kind_row())]),
        "### `triggers[].channels[]`",
        "",
        _doc(ChannelOption),
        "",
        *_table("triggers[].channels[].", ChannelOption, ()),
        "### `triggers[].steps[]`",
        "",
        _doc(SequenceStep),
        "",
        *_table("triggers[].steps[].", SequenceStep, ()),
    ]
    for kind in KINDS.values():
        spec = kind.spec_type
        out += [f"### `kind: {kind.name}`", "", inspect.cleandoc(kind.doc), ""]
        own = [f for f in msgspec.structs.fields(spec) if f.name not in _common()]
        if own:
            out += _table(f"triggers[{kind.name}].", spec, tuple(_common()))
        else:
            out += ["No parameters.", ""]
    return "\n".join(out).rstrip() + "\n"


def missing_descriptions() -> list[str]:
    """`Struct.field` of every documented field that has no description."""
    missing = []
    for _, _, struct, skip in _sections():
        missing += [f"{struct.__name__}.{f.name}" for f in _fields(struct, skip)
                    if not _description(struct, f.name)]  # fmt: skip
    for held in (ChannelOption, SequenceStep):
        missing += [f"{held.__name__}.{f.name}" for f in msgspec.structs.fields(held)
                    if not _description(held, f.name)]  # fmt: skip
    specs: list[type[TriggerSpecBase]] = [TriggerSpecBase]
    specs += [kind.spec_type for kind in KINDS.values()]
    for spec in specs:
        missing += [f"{spec.__name__}.{f.name}" for f in msgspec.structs.fields(spec)
                    if not _description(spec, f.name)]  # fmt: skip
    if not _description(TriggerSpecBase, "kind"):
        missing.append("TriggerSpecBase.kind")
    return sorted(set(missing))


def _sections() -> Iterator[tuple[str, str, Any, tuple[str, ...]]]:
    yield from _SECTIONS
    # Any other struct-valued top-level field (the model, and whatever comes next) gets
    # a section of its own, so a new part of the schema cannot go undocumented; so do
    # the structs its fields hold (`guardrails.frequency_caps[]`, ...).
    for field in msgspec.structs.fields(schema._File):
        if field.name in ("scoring", "stages", "triggers"):
            continue
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            yield (f"`{field.name}`", f"{field.name}.", field.type, ())
            for inner in msgspec.structs.fields(field.type):
                held = _held_struct(inner.type)
                if held is not None:
                    name = f"{field.name}.{inner.name}" + ("[]" if held[1] else "")
                    yield (f"`{name}`", f"{name}.", held[0], ())


def _held_struct(type_: Any) -> tuple[Any, bool] | None:
    """The struct a field holds, and whether in a list: `list[S]`, `S` or `S | None`."""
    is_list = typing.get_origin(type_) is list
    args = typing.get_args(type_) if is_list or typing.get_origin(type_) else (type_,)
    structs = [a for a in args if isinstance(a, type) and issubclass(a, msgspec.Struct)]
    if len(structs) == 1 and all(a in (structs[0], type(None)) for a in args):
        return structs[0], is_list
    return None


def _section(title: str, prefix: str, struct: Any, skip: tuple[str, ...]) -> list[str]:
    lines = [f"## {title}", ""]
    if struct is not schema._File:
        lines += [_doc(struct), ""]
    return lines + _table(prefix, struct, skip)


def _fields(struct: Any, skip: tuple[str, ...]) -> list[msgspec.structs.FieldInfo]:
    return [f for f in msgspec.structs.fields(struct) if f.name not in skip]


def _table(
    prefix: str, struct: Any, skip: tuple[str, ...], extra: Sequence[tuple[str, list[str]]] = ()
) -> list[str]:
    lines = ["| field | type | default | meaning | example |", "|---|---|---|---|---|"]
    for name, row in extra:
        lines.append(f"| `{prefix}{name}` | " + " | ".join(row) + " |")
    for field in _fields(struct, skip):
        row = [
            _type_name(field.type),
            _default(field),
            _cell(_description(struct, field.name)),
            f"`{_example(struct, field)}`",
        ]
        lines.append(f"| `{prefix}{field.name}` | " + " | ".join(row) + " |")
    return [*lines, ""]


def _kind_row() -> list[str]:
    kinds = ", ".join(f"`{name}`" for name in KINDS)
    return [f"one of {kinds}", "*required*", _cell(DESCRIPTIONS["TriggerSpecBase.kind"]),
            f"`{EXAMPLES['TriggerSpecBase.kind']}`"]  # fmt: skip


def _common() -> set[str]:
    return {f.name for f in msgspec.structs.fields(TriggerSpecBase)}


def _doc(struct: Any) -> str:
    return inspect.cleandoc(struct.__doc__ or "")


def _description(struct: Any, name: str) -> str:
    for klass in struct.__mro__:
        key = f"{klass.__name__}.{name}"
        if key in DESCRIPTIONS:
            return DESCRIPTIONS[key]
        found = _field_docstrings(klass).get(name)
        if found:
            return found
    return ""


def _field_docstrings(klass: type) -> dict[str, str]:
    """The docstrings written under fields in a class body (`x: int = 1` then `\"\"\"...\"\"\"`)."""
    try:
        tree = ast.parse(inspect.getsource(klass))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for field, after in itertools.pairwise(body):
        is_doc = isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
        if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) and is_doc:
            docs[field.target.id] = inspect.cleandoc(str(after.value.value))  # type: ignore[attr-defined]
    return docs


def _example(struct: Any, field: msgspec.structs.FieldInfo) -> str:
    for klass in struct.__mro__:
        key = f"{klass.__name__}.{field.name}"
        if key in EXAMPLES:
            return EXAMPLES[key]
    return f"{field.name}: {_value(field)}"


def _default(field: msgspec.structs.FieldInfo) -> str:
    if field.required:
        return "*required*"
    return f"`{_value(field)}`"


def _value(field: msgspec.structs.FieldInfo) -> str:
    if field.default is not msgspec.NODEFAULT:
        value = field.default
    elif field.default_factory is not msgspec.NODEFAULT:
        value = field.default_factory()
    else:
        return "none"
    return _yaml(value)


def _yaml(value: Any) -> str:
    if isinstance(value, schema.Duration):
        return format_duration(value.ms)
    if isinstance(value, schema.CapSpan):
        return "day" if value.is_calendar_day else format_duration(value.ms)
    if isinstance(value, Reentry):
        return format_duration(value.ms) if value.is_after else repr(value)[8:-1]
    if value is None:
        return "none"
    if value == "":
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return str(value)


def _type_name(type_: Any) -> str:
    if type_ is schema.Duration:
        return "duration"
    if type_ is schema.CapSpan:
        return "`day` or duration"
    if type_ is Reentry:
        return "`always`, `never` or duration"
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if type_ in simple:
        return simple[type_]
    origin = typing.get_origin(type_)
    args = typing.get_args(type_)
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin is list:
        if typing.get_origin(args[0]) is Literal:
            return "list, each " + _type_name(args[0])
        is_union = typing.get_origin(args[0]) in (types.UnionType, typing.Union)
        inner = typing.get_args(args[0]) if is_union else args[:1]
        return "list of " + " or ".join(f"{_type_name(a)}s" for a in inner)
    if origin is dict:
        return f"mapping of {_type_name(args[0])} to {_type_name(args[1])}"
    if origin in (types.UnionType, typing.Union):
        rest = [a for a in args if a is not type(None)]
        optional = " (optional)" if type(None) in args else ""
        return " or ".join(_type_name(a) for a in rest) + optional
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        return "mapping"
    return str(type_)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
