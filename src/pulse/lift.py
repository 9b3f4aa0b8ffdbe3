"""Measured lift: did contacts who got a trigger convert more than those held out?

The journey counts, per trigger, variant and arm (`sent`: the message went out
or was deferred; `held_out`: the contact was in the control group), the
contacts exposed, those who reached the trigger's goal within its window
(`converted`) and the revenue of those conversions. These counters are
committed with every batch, exactly once, under `lift:` keys of the run
counters (`pulse:stats`):

* `lift:<trigger>:<variant>:<arm>:exposed`
* `lift:<trigger>:<variant>:<arm>:converted`
* `lift:<trigger>:<variant>:<arm>:revenue_cents`
* `lift:<trigger>:<variant>:<arm>:within_<span>` - conversions by time after the
  trigger (`TIMING_BUCKETS`)

The variant is empty for triggers without `variants`. This module turns them
into a table: conversion rate, revenue per contact, the lift over control (the
difference of the two conversion rates) with a 95 % confidence interval, and
the number of contacts an experiment needs to detect the observed lift.

The interval is Newcombe's hybrid score interval for a difference of two
proportions (method 10 of Newcombe, Statistics in Medicine 1998), built from
the two Wilson score intervals: unlike the Wald interval it stays inside
[-1, 1] and keeps its coverage with few conversions or a small control group.
The sample size is the two-proportion formula (Fleiss) at 5 % two-sided
significance and 80 % power, for the allocation the experiment actually has
(a 10 % holdout is nine exposed contacts per control).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from statistics import NormalDist

import msgspec

__all__ = [
    "ATTRIBUTION_SLOT",
    "TIMING_BUCKETS",
    "Arm",
    "LiftChange",
    "LiftRow",
    "difference_interval",
    "lift_changes",
    "lift_key",
    "lift_table",
    "sample_size",
    "timing_bucket",
    "wilson_interval",
]

Z_95 = NormalDist().inv_cdf(0.975)
"""The two-sided 95 % normal quantile (1.96)."""
Z_POWER_80 = NormalDist().inv_cdf(0.80)

TIMING_BUCKETS: tuple[tuple[str, int], ...] = (
    ("1h", 3_600_000),
    ("1d", 86_400_000),
    ("3d", 3 * 86_400_000),
    ("7d", 7 * 86_400_000),
)
"""Conversions are counted by the first of these spans after the trigger they fall in;
later ones (a goal window longer than 7 days) count as `within_later`."""

PREFIX = "lift:"
ATTRIBUTION_SLOT = "attribution"
"""The contact timer slot that closes its oldest open goal window (the earliest due)."""


def lift_key(trigger: str, variant: str, arm: str, metric: str) -> str:
    """The run counter holding one figure.

    >>> lift_key("abandon_cart", "", "held_out", "exposed")
    'lift:abandon_cart::held_out:exposed'
    """
    return f"{PREFIX}{trigger}:{variant}:{arm}:{metric}"


def timing_bucket(after_ms: int) -> str:
    """The `within_` bucket of a conversion `after_ms` after its trigger.

    >>> timing_bucket(600_000), timing_bucket(2 * 86_400_000), timing_bucket(9 * 86_400_000)
    ('1h', '3d', 'later')
    """
    for name, span_ms in TIMING_BUCKETS:
        if after_ms <= span_ms:
            return name
    return "later"


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; `(0, 1)` with no trials.

    >>> [round(x, 4) for x in wilson_interval(8, 40)]
    [0.105, 0.3476]
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(
    x1: int, n1: int, x0: int, n0: int, z: float = Z_95
) -> tuple[float, float, float]:
    """`p1 - p0` and its Newcombe hybrid score interval (see the module docstring).

    Newcombe's worked example 1 (56/70 vs 48/80): 0.2, interval 0.0524 to 0.3339.

    >>> [round(x, 4) for x in difference_interval(56, 70, 48, 80)]
    [0.2, 0.0524, 0.3339]
    """
    p1 = x1 / n1 if n1 else 0.0
    p0 = x0 / n0 if n0 else 0.0
    l1, u1 = wilson_interval(x1, n1, z)
    l0, u0 = wilson_interval(x0, n0, z)
    diff = p1 - p0
    low = diff - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return diff, low, high


def sample_size(p0: float, p1: float, ratio: float = 1.0) -> int | None:
    """Contacts (both arms together) needed to detect `p1 - p0` at 5 % two-sided and 80 %
    power, with `ratio` exposed contacts per control; None when there is no difference.

    >>> sample_size(0.10, 0.15)  # 686 per arm
    1372
    >>> sample_size(0.10, 0.15, ratio=9.0)  # a 10 % holdout needs far more contacts
    4000
    >>> sample_size(0.2, 0.2) is None
    True
    """
    delta = abs(p1 - p0)
    if delta == 0 or ratio <= 0:
        return None
    k = ratio
    pooled = (p0 + k * p1) / (1 + k)
    root = Z_95 * math.sqrt(pooled * (1 - pooled) * (1 + 1 / k)) + Z_POWER_80 * math.sqrt(
        p0 * (1 - p0) + p1 * (1 - p1) / k
    )
    n0 = math.ceil(root * root / (delta * delta))
    return n0 + math.ceil(k * n0)


class Arm(msgspec.Struct, kw_only=True):
    """One arm of one trigger (and variant): its contacts and their conversions."""

    exposed: int = 0
    converted: int = 0
    revenue_cents: int = 0
    timing: dict[str, int] = {}
    """Conversions by `TIMING_BUCKETS` name (and `later`)."""

    @property
    def rate(self) -> float:
        """Share of exposed contacts that converted.

        >>> Arm(exposed=40, converted=10).rate
        0.25
        """
        return self.converted / self.exposed if self.exposed else 0.0

    @property
    def revenue_per_contact(self) -> float:
        """Goal revenue per exposed contact.

        >>> Arm(exposed=4, revenue_cents=1000).revenue_per_contact
        2.5
        """
        return self.revenue_cents / 100 / self.exposed if self.exposed else 0.0


class LiftRow(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the lift table: a trigger's variant against the trigger's control."""

    trigger: str
    variant: str
    sent: Arm
    held_out: Arm
    """The trigger's control group (all its variants' held-out contacts pooled)."""
    lift: float | None
    """Conversion rate sent minus held out; None without both arms."""
    low: float | None
    high: float | None
    """The 95 % interval of `lift`."""
    needed: int | None
    """Contacts needed to detect `lift` (5 % two-sided, 80 % power, this allocation)."""

    @property
    def is_significant(self) -> bool:
        """Whether the interval excludes zero."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


def lift_table(counters: Mapping[str, int]) -> list[LiftRow]:
    """The lift rows from run counters (other counters are ignored), by trigger and variant.

    >>> rows = lift_table({
    ...     "lift:abandon_cart::sent:exposed": 900, "lift:abandon_cart::sent:converted": 360,
    ...     "lift:abandon_cart::held_out:exposed": 100, "lift:abandon_cart::held_out:converted": 25,
    ...     "events": 5})
    >>> row = rows[0]
    >>> row.trigger, row.sent.rate, row.held_out.rate, round(row.lift, 2), row.is_significant
    ('abandon_cart', 0.4, 0.25, 0.15, True)
    """
    arms: dict[tuple[str, str, str], Arm] = {}
    for key, value in counters.items():
        if not key.startswith(PREFIX):
            continue
        parts = key[len(PREFIX) :].rsplit(":", 3)
        if len(parts) != 4:
            continue
        trigger, variant, arm_name, metric = parts
        arm = arms.setdefault((trigger, variant, arm_name), Arm())
        if metric == "exposed":
            arm.exposed += value
        elif metric == "converted":
            arm.converted += value
        elif metric == "revenue_cents":
            arm.revenue_cents += value
        elif metric.startswith("within_"):
            arm.timing[metric[len("within_") :]] = arm.timing.get(metric[7:], 0) + value
    controls: dict[str, Arm] = {}
    for (trigger, _, arm_name), arm in arms.items():
        if arm_name == "held_out":
            pooled = controls.setdefault(trigger, Arm())
            pooled.exposed += arm.exposed
            pooled.converted += arm.converted
            pooled.revenue_cents += arm.revenue_cents
            for name, n in arm.timing.items():
                pooled.timing[name] = pooled.timing.get(name, 0) + n
    variants = sorted({(t, v) for t, v, a in arms if a == "sent"} | {(t, "") for t in controls})
    rows = []
    for trigger, variant in variants:
        sent = arms.get((trigger, variant, "sent"))
        if sent is None and any(t == trigger and v for t, v, a in arms if a == "sent"):
            continue  # a trigger with variants: its control is shown against each variant
        sent = sent or Arm()
        control = controls.get(trigger, Arm())
        lift = low = high = None
        needed = None
        if sent.exposed and control.exposed:
            lift, low, high = difference_interval(
                sent.converted, sent.exposed, control.converted, control.exposed
            )
            needed = sample_size(control.rate, sent.rate, sent.exposed / control.exposed)
        rows.append(
            LiftRow(
                trigger=trigger,
                variant=variant,
                sent=sent,
                held_out=control,
                lift=lift,
                low=low,
                high=high,
                needed=needed,
            )
        )
    return rows


class LiftChange(msgspec.Struct, frozen=True, kw_only=True):
    """One trigger variant's lift under two rule sets (`pulse replay --compare`)."""

    trigger: str
    variant: str
    before: LiftRow | None
    after: LiftRow | None
    """`None`: the variant was neither sent nor held out under that rule set."""


def lift_changes(before: Mapping[str, int], after: Mapping[str, int]) -> list[LiftChange]:
    """Lift rows of two runs' counters, matched by trigger and variant.

    >>> counters = {"lift:rescue::sent:exposed": 10, "lift:rescue::held_out:exposed": 2}
    >>> [(c.trigger, c.before is None, c.after is not None) for c in lift_changes({}, counters)]
    [('rescue', True, True)]
    """
    old = {(r.trigger, r.variant): r for r in lift_table(before)}
    new = {(r.trigger, r.variant): r for r in lift_table(after)}
    return [
        LiftChange(trigger=t, variant=v, before=old.get((t, v)), after=new.get((t, v)))
        for t, v in sorted(old.keys() | new.keys())
    ]
