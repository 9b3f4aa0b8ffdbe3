"""Checks beyond the schema: conditions compile within their cost bounds, thresholds
agree, durations are positive, every trigger can fire (each kind checks its own
fields: `pulse.triggers.base.Kind.check`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import msgspec

from pulse.caps import ALL
from pulse.channels import ENGAGEMENT_CHANNEL, options_of
from pulse.conditions import (
    CONDITION_VARIABLES,
    KNOWN_PROPS,
    Condition,
    compile_condition,
    condition_cost,
    lint_condition,
    unknown_props,
)
from pulse.events import CANONICAL_TYPES, VENDOR_TYPES
from pulse.localtime import parse_clock, zone
from pulse.rules.problems import Problems
from pulse.rules.schema import Duration, Guardrails, Scoring, TriggerSpec, _File
from pulse.sequences import MAX_ACTIVE_BOUND, check_steps
from pulse.spec import CHANNEL_REQUIREMENTS, CHANNELS
from pulse.suggest import did_you_mean
from pulse.traits import is_trait_name
from pulse.triggers import kind_of
from pulse.triggers.base import CheckContext

__all__ = [
    "check_channels",
    "check_consistency",
    "check_durations",
    "check_experiments",
    "check_guardrails",
    "check_reachability",
    "check_sequences",
    "compile_conditions",
]


def check_durations(
    shell: _File, triggers: list[tuple[int, TriggerSpec]], problems: Problems
) -> None:
    """Every duration but `allowed_lateness` must be longer than zero."""
    spans: list[tuple[str, Duration]] = [("$.session_gap", shell.session_gap)]
    spans += [(f"$.model.{f.name}", getattr(shell.model, f.name))
              for f in msgspec.structs.fields(shell.model) if f.type is Duration]  # fmt: skip
    for index, spec in triggers:
        spans += [(f"$.triggers[{index}].{f.name}", getattr(spec, f.name))
                  for f in msgspec.structs.fields(spec) if f.type is Duration]  # fmt: skip
    for path, span in spans:
        if span.ms <= 0:
            problems.add(f"`{path.rsplit('.', 1)[1]}` must be longer than zero", path)


def compile_conditions(
    scoring: Scoring, origins: list[int], known_types: frozenset[str], problems: Problems
) -> dict[int, Condition]:
    conditions: dict[int, Condition] = {}
    for index, rule in enumerate(scoring.rules):
        path = f"$.scoring.rules[{origins[index]}]"
        if rule.event not in known_types:
            problems.add(
                f"unknown event type `{rule.event}` (declare it under `event_types`)"
                + did_you_mean(rule.event, known_types),
                f"{path}.event",
            )
        if rule.when is None:
            continue
        costly = condition_cost(rule.when)
        for message in costly:
            problems.add(f"condition refused: {message}", f"{path}.when")
        if costly:
            continue
        try:
            condition = compile_condition(rule.when)
        except ValueError as exc:
            first = str(exc).splitlines()[0]
            problems.add(f"condition does not compile: {first}", f"{path}.when")
            continue
        unknown = condition.variables - CONDITION_VARIABLES - condition.bound
        if unknown:
            names = ", ".join(f"`{n}`" for n in sorted(unknown))
            allowed = ", ".join(f"`{n}`" for n in sorted(CONDITION_VARIABLES))
            hints = "".join(did_you_mean(n, CONDITION_VARIABLES) for n in sorted(unknown))
            problems.add(
                f"condition uses unknown name {names}; use {allowed}{hints}", f"{path}.when"
            )
            continue
        for message in lint_condition(condition, rule.event, known_types):
            problems.add(message, f"{path}.when")
        for name in unknown_props(condition):
            known = ", ".join(f"`{n}`" for n in sorted(KNOWN_PROPS))
            problems.warn(
                f"condition reads `props.{name}`, which pulse does not know ({known}); "
                "events without it never satisfy the condition" + did_you_mean(name, KNOWN_PROPS),
                f"{path}.when",
            )
        conditions[index] = condition
    return conditions


def check_consistency(
    shell: _File,
    scoring: Scoring,
    triggers: list[tuple[int, TriggerSpec]],
    known_types: frozenset[str],
    problems: Problems,
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


def check_reachability(
    shell: _File,
    scoring: Scoring,
    origins: list[int],
    triggers: list[tuple[int, TriggerSpec]],
    known_types: frozenset[str],
    problems: Problems,
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
    if shell.model.kind == "hoeffding_tree":
        problems.add(
            "`hoeffding_tree` is no longer supported: pulse stores the model as data "
            "(weights and statistics, never a pickle) and a tree has no such form yet; "
            "use `logistic`",
            "$.model.kind",
        )
    if shell.stages.loyal_purchases < 1:
        problems.add(
            "`loyal_purchases` must be at least 1 (one purchase makes a `customer`)",
            "$.stages.loyal_purchases",
        )

    enabled = frozenset(kind_of(spec).name for _, spec in triggers if spec.enabled)
    for index, spec in triggers:
        path = f"$.triggers[{index}]"
        origin = problems.origins.get(path)
        is_override = origin is not None and origin.own is not None and origin.base is not None
        # Turning off an inherited trigger is what `enabled: false` is for under `extends`.
        if not spec.enabled and not is_override:
            problems.warn(
                f"trigger `{spec.name}` is disabled (`enabled: false`)", f"{path}.enabled"
            )
        context = CheckContext(
            known_types=known_types,
            total_cap=total_cap,
            enabled_kinds=enabled,
            refer=functools.partial(_refer_below, refer, path),
        )
        # Each kind checks its own fields (see `pulse.triggers.base.Kind.check`).
        for finding in kind_of(spec).check(spec, context):
            report = problems.warn if finding.is_warning else problems.add
            report(finding.message, path + finding.path)
        for at, name in enumerate(spec.exit_on):  # a sequence's exit uses its event type
            refer(name, f"{path}.exit_on[{at}]")

    if not any(spec.enabled for _, spec in triggers):
        problems.warn(
            "the pack has no enabled trigger: it scores contacts but never fires "
            "(`extends: default` keeps the default pack's triggers)",
            "$.triggers",
        )
    # A kind that every activity affects uses every declared type (it ends a silence).
    is_activity_used = any(kind_of(spec).is_activity and spec.enabled for _, spec in triggers)
    for index, name in enumerate(shell.event_types):
        path = f"$.event_types[{index}]"
        if name in CANONICAL_TYPES:
            problems.warn(f"`{name}` is a canonical event type: declaring it does nothing", path)
        elif name in VENDOR_TYPES:
            problems.warn(f"`{name}` " + vendor_hint.format(VENDOR_TYPES[name]), path)
        elif name not in used_types and not is_activity_used:
            problems.warn(
                f"event type `{name}` is declared but no rule, condition or trigger uses it "
                "(its events are only accepted and counted)",
                path,
            )


def check_guardrails(guardrails: Guardrails, raw_triggers: list[Any], problems: Problems) -> None:
    """Caps that can be met, cooldowns of triggers that exist, real clocks and time zones.

    Trigger names come from the raw list, so a trigger with a problem of its own is
    not also reported as unknown here.
    """
    path = "$.guardrails"
    for index, cap in enumerate(guardrails.frequency_caps):
        at = f"{path}.frequency_caps[{index}]"
        if cap.max < 1:
            problems.add(
                f"`max` ({cap.max}) must be at least 1 (to stop a channel, withdraw consent)",
                f"{at}.max",
            )
        if not cap.per.is_calendar_day and cap.per.ms <= 0:
            problems.add("`per` must be longer than zero (or `day`)", f"{at}.per")
        if not cap.channel:
            problems.add("`channel` must name a channel", f"{at}.channel")
        elif cap.channel not in (*CHANNELS, ALL):
            problems.warn(
                f"cap on unknown channel `{cap.channel}` (pulse knows "
                + ", ".join(f"`{c}`" for c in (*CHANNELS, ALL))
                + ")"
                + did_you_mean(cap.channel, (*CHANNELS, ALL)),
                f"{at}.channel",
            )
    names = {
        str(raw.get("name") or raw.get("kind")) for raw in raw_triggers if isinstance(raw, dict)
    }
    for index, group in enumerate(guardrails.exclusive):
        at = f"{path}.exclusive[{index}]"
        if len(set(group.triggers)) < 2:
            problems.add(
                "an exclusion group needs at least two distinct triggers", f"{at}.triggers"
            )
        seen: set[str] = set()
        for position, name in enumerate(group.triggers):
            if name not in names:
                problems.add(
                    f"exclusion group names unknown trigger `{name}`" + did_you_mean(name, names),
                    f"{at}.triggers[{position}]",
                )
            elif name in seen:
                problems.add(f"trigger `{name}` is named twice", f"{at}.triggers[{position}]")
            seen.add(name)
        if group.within.ms <= 0:
            problems.add("`within` must be longer than zero", f"{at}.within")
    for name, span in guardrails.cooldowns.items():
        if name not in names:
            problems.add(
                f"cooldown for unknown trigger `{name}`" + did_you_mean(name, names),
                f"{path}.cooldowns.{name}",
            )
        if span.ms <= 0:
            problems.add("a cooldown must be longer than zero", f"{path}.cooldowns.{name}")
    quiet = guardrails.quiet_hours
    if quiet is not None:
        for field in ("start", "end"):
            try:
                parse_clock(getattr(quiet, field))
            except ValueError as exc:
                problems.add(str(exc), f"{path}.quiet_hours.{field}")
        if quiet.start == quiet.end:
            problems.warn("`start` equals `end`: quiet hours never hold", f"{path}.quiet_hours.end")
    if zone(guardrails.default_timezone) is None:
        problems.add(
            f"unknown time zone `{guardrails.default_timezone}` (expected an IANA name such "
            "as `Europe/Paris`)",
            f"{path}.default_timezone",
        )


_MAX_ENGAGED_WITHIN_MS = 30 * 86_400_000
"""Window counts keep 30 days (`pulse.windows`): `engaged_within` can look no further."""


def check_channels(
    triggers: list[tuple[int, TriggerSpec]], known_types: frozenset[str], problems: Problems
) -> None:
    """Channel lists name known channels once each, conditions can hold, and a fallback has
    somewhere to go and engagement events that exist."""
    for index, spec in triggers:
        path = f"$.triggers[{index}]"
        first = spec.channels[0] if spec.channels else None
        first_name = first if isinstance(first, str) or first is None else first.channel
        if first_name is not None and spec.channel not in (None, first_name):
            # Under `extends`, a base pack's `channel` stays beside a new `channels`.
            problems.warn(
                f"`channels` is used: `channel` (`{spec.channel}`) is ignored", f"{path}.channel"
            )
        options = options_of(spec)
        seen: set[str] = set()
        for position, option in enumerate(options if spec.channels else ()):
            at = f"{path}.channels[{position}]"
            name = option.channel
            if name not in CHANNELS:
                known = ", ".join(f"`{c}`" for c in CHANNELS)
                problems.add(
                    f"unknown channel `{name}` (expected one of {known})"
                    + did_you_mean(name, CHANNELS),
                    at,
                )
            elif name in seen:
                problems.add(f"channel `{name}` is listed twice", at)
            seen.add(name)
            for number, requirement in enumerate(option.require):
                if requirement not in CHANNEL_REQUIREMENTS:
                    problems.add(
                        f"unknown channel condition `{requirement}` (expected `consented` or "
                        "`has_address`)" + did_you_mean(requirement, CHANNEL_REQUIREMENTS),
                        f"{at}.require[{number}]",
                    )
            span = option.engaged_within
            if span is None:
                continue
            if not 0 < span.ms <= _MAX_ENGAGED_WITHIN_MS:
                problems.add(
                    "`engaged_within` must be longer than zero and at most 30d (pulse keeps "
                    "30 days of counts)",
                    f"{at}.engaged_within",
                )
            if name in CHANNELS and name not in ENGAGEMENT_CHANNEL.values():
                problems.add(
                    f"`engaged_within` on `{name}` can never hold: no event type is "
                    "engagement on it (`email_open`, `email_click`: email; `sms_click`: sms; "
                    "`push_open`: push)",
                    f"{at}.engaged_within",
                )
        if spec.fallback_after is None:
            continue
        if spec.fallback_after.ms <= 0:
            problems.add("`fallback_after` must be longer than zero", f"{path}.fallback_after")
        if len(options) < 2:
            problems.add(
                f"trigger `{spec.name}` has `fallback_after` but no second channel to fall "
                "back to (list them under `channels`)",
                f"{path}.fallback_after",
            )
        if not spec.engagement:
            problems.add(
                "`engagement` must name at least one event type (what cancels the fallback)",
                f"{path}.engagement",
            )
        for position, name in enumerate(spec.engagement):
            if name not in known_types:
                problems.add(
                    f"unknown event type `{name}` (declare it under `event_types`)"
                    + did_you_mean(name, known_types),
                    f"{path}.engagement[{position}]",
                )


def check_sequences(
    shell: _File, triggers: list[tuple[int, TriggerSpec]], known_types: frozenset[str],
    problems: Problems,
) -> None:  # fmt: skip
    """Steps in time order under distinct names on known channels, exits of known types,
    and few sequences open at once (see `pulse.sequences`)."""
    if not 1 <= shell.sequences.max_active <= MAX_ACTIVE_BOUND:
        problems.add(
            f"`max_active` ({shell.sequences.max_active}) must be between 1 and {MAX_ACTIVE_BOUND}",
            "$.sequences.max_active",
        )
    for index, spec in triggers:
        path = f"$.triggers[{index}]"
        for finding in check_steps(spec, known_types):
            report = problems.warn if finding.is_warning else problems.add
            report(finding.message, path + finding.path)
        for at, step in enumerate(spec.steps):
            own = f"{path}.steps[{at}]"
            names = [o.channel for o in options_of(step)]
            for position, name in enumerate(names):
                if name not in CHANNELS:
                    where = f"{own}.channels[{position}]" if step.channels else f"{own}.channel"
                    problems.add(f"unknown channel `{name}`" + did_you_mean(name, CHANNELS), where)


_MAX_VARIANTS = 8
_MAX_OPEN_ATTRIBUTIONS = 32
"""Bound on `experiments.max_open`: open attributions are part of every contact's state."""


def check_experiments(
    shell: _File, triggers: list[tuple[int, TriggerSpec]], problems: Problems
) -> None:
    """Shares are proportions below one, variants are distinct plain names, goals are
    known event types, and a contact's open attributions stay few."""
    known_types = CANONICAL_TYPES | frozenset(shell.event_types)
    experiments = shell.experiments
    if not 0 <= experiments.control_share < 1:
        problems.add(
            f"`control_share` ({experiments.control_share}) must be at least 0 and below 1",
            "$.experiments.control_share",
        )
    if not 1 <= experiments.max_open <= _MAX_OPEN_ATTRIBUTIONS:
        problems.add(
            f"`max_open` ({experiments.max_open}) must be between 1 and {_MAX_OPEN_ATTRIBUTIONS}",
            "$.experiments.max_open",
        )
    for index, spec in triggers:
        path = f"$.triggers[{index}]"
        if not 0 <= spec.holdout < 1:
            problems.add(
                f"`holdout` ({spec.holdout}) must be at least 0 and below 1", f"{path}.holdout"
            )
        elif spec.holdout and not kind_of(spec).is_marketing:
            problems.warn(
                f"trigger `{spec.name}` sends no message: it is never held out",
                f"{path}.holdout",
            )
        if len(spec.variants) > _MAX_VARIANTS:
            problems.add(f"at most {_MAX_VARIANTS} `variants`", f"{path}.variants")
        seen: set[str] = set()
        for at, variant in enumerate(spec.variants):
            if not variant or ":" in variant or variant in seen:
                problems.add(
                    f"variant `{variant}` must be a distinct non-empty name without `:`",
                    f"{path}.variants[{at}]",
                )
            seen.add(variant)
        if len(spec.variants) == 1:
            problems.warn(
                f"trigger `{spec.name}` has one variant: every contact gets it, nothing is "
                "compared",
                f"{path}.variants",
            )
        for at, name in enumerate(spec.traits):
            if not is_trait_name(name) or spec.traits.index(name) != at:
                problems.add(
                    f"trait `{name}` must be a distinct plain identifier of at most 40 characters",
                    f"{path}.traits[{at}]",
                )
        if spec.goal not in known_types:
            problems.add(
                f"unknown event type `{spec.goal}` (declare it under `event_types`)"
                + did_you_mean(spec.goal, known_types),
                f"{path}.goal",
            )


def _refer_below(refer: Callable[[str, str], None], at: str, event_type: str, below: str) -> None:
    """`refer` with a path below the trigger at `at` (the kinds' checks give relative paths)."""
    refer(event_type, at + below)
