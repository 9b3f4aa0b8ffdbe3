"""Replay one events file under two rule sets and say what the change does.

`compare_replays` runs the real dataflow twice over the same file, in event
time, each run under a Redis key prefix of its own: first the baseline rules
(`before`), then the candidate (`after`). It then reads back both trigger
streams and every contact's state and builds a `Comparison`:

* per trigger, how many fired under each, and how many are the same, shifted
  in time, added or removed, with median and p90 shift and sample contacts;
* the distribution of scores (at the same event time) and of stages, before
  and after, and which stage moves the change causes.

* per point rule, before and after: events matched, points added, stage moves
  and triggers caused (`pulse.rulestats`), rules that matched nothing flagged;
* the rules diff itself (the two files, unified).

Triggers are matched by `trigger_id`: it is derived from the contact, the
trigger name and the episode that armed it (a cart, a session and product, an
order, a silence), none of which depend on the rules, so the same reminder
fired 30 minutes later keeps its id and counts as *shifted*. A trigger whose
episode is the event it fired on (`sales_ready` crossing, `welcome`,
`welcome_back`) gets another id when it fires on another event: what is left
unmatched of those is paired by contact and trigger, nearest firing first,
within `REARM_WINDOW_MS`, and counted as shifted too (`rearmed`).

Rendering (terminal, JSON, HTML) lives in `pulse.compare_report`.
"""

from __future__ import annotations

import difflib
import math
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec
import redis

from pulse.config import RunConfig
from pulse.contact import STAGES
from pulse.journey import Journey
from pulse.lift import LiftChange, lift_changes
from pulse.readback import delete_prefix, iter_states
from pulse.rules import Rules, load_rules
from pulse.rulestats import RuleStat, rule_stats
from pulse.state import ContactStore, connect, layout_for, read_all_triggers
from pulse.triggers import Trigger, iso_ms

__all__ = [
    "EVENT_ARMED_KINDS",
    "REARM_WINDOW_MS",
    "SCORE_BINS",
    "Comparison",
    "RuleChange",
    "RunSummary",
    "Sample",
    "TriggerChange",
    "compare_replays",
    "compare_triggers",
    "percentile",
]

SCORE_BINS = (0.0, 1.0, 5.0, 10.0, 20.0, 40.0, 60.0, 100.0, math.inf)
"""Score histogram edges: fine where most contacts are, coarse above the default thresholds."""

SAMPLES = 5
"""Sample contacts kept per trigger and kind of change."""

EVENT_ARMED_KINDS = frozenset({"sales_ready", "welcome", "welcome_back"})
"""Trigger kinds whose episode is the event they fire on: rules move it from event to event."""

REARM_WINDOW_MS = 86_400_000
"""An event-armed firing unmatched by id pairs with the same contact's nearest within a day."""


class RunSummary(msgspec.Struct, kw_only=True):
    """One side of the comparison: which rules, and how the replay went."""

    label: str
    rules_path: str
    rules_version: str
    prefix: str
    events: int = 0
    elapsed_s: float = 0.0
    events_per_s: float = 0.0
    triggers: int = 0
    contacts: int = 0
    counters: dict[str, int] = {}


class Sample(msgspec.Struct, frozen=True, kw_only=True):
    """One contact's trigger, before and after (`None` where it did not fire)."""

    contact: str
    trigger_id: str
    before: str | None
    after: str | None
    shift_s: float | None = None
    after_trigger_id: str | None = None
    """Set when the pair was matched by contact (`rearmed`): the candidate's id."""


class TriggerChange(msgspec.Struct, kw_only=True):
    """How one trigger's firings changed between the two rule sets."""

    trigger: str
    before: int = 0
    after: int = 0
    same: int = 0
    """Same id, same event time."""
    shifted: int = 0
    """Same id (same contact and episode), another event time; or `rearmed`."""
    rearmed: int = 0
    """Of `shifted`: event-armed firings paired by contact and nearest time, not by id."""
    added: int = 0
    removed: int = 0
    shift_median_s: float | None = None
    shift_p90_s: float | None = None
    """90th percentile of the signed shift (positive: fires later)."""
    shift_min_s: float | None = None
    shift_max_s: float | None = None
    samples: dict[str, list[Sample]] = {}
    """Up to `SAMPLES` contacts per change: `added`, `removed`, `shifted`."""


class Histogram(msgspec.Struct, kw_only=True):
    """Contacts per score bin, before and after; `edges[i] <= score < edges[i+1]`."""

    edges: list[float]
    before: list[int]
    after: list[int]


class ScoreStats(msgspec.Struct, kw_only=True):
    """Summary of all contacts' scores under one rule set."""

    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    max: float = 0.0


class Comparison(msgspec.Struct, kw_only=True):
    """Everything `pulse replay --compare` reports; encodes to JSON as is."""

    events_file: str
    as_of: str
    """Event time at which scores are compared (the newest event, or `--until`)."""
    before: RunSummary
    after: RunSummary
    triggers: list[TriggerChange]
    scores: Histogram
    score_stats: dict[str, ScoreStats]
    score_changes: dict[str, int]
    """Contacts whose score went `up`, `down` (by more than 0.01) or stayed `same`."""
    stages: dict[str, list[int]]
    """Per stage, `[before, after]` contact counts."""
    stage_moves: dict[str, int]
    """`"from -> to"`: contacts whose stage differs between the runs, most common first."""
    lift: list[LiftChange] = []
    """Per trigger and variant: its lift (sent vs held out) under each rule set."""
    rules: list[RuleChange] = []
    """Per point rule (the candidate's first, then the baseline's others): before and after."""
    rules_diff: list[str] = []
    """The rules files, unified diff (baseline `---`, candidate `+++`)."""
    explain_args: str | None = None
    """Where `pulse explain` finds the kept state (`--state-dir D` / `--redis-url U`); `None`:
    the keys were not kept."""


class RuleChange(msgspec.Struct, kw_only=True):
    """One point rule's effect under each rule set (`None`: not in that one)."""

    rule: str
    event: str | None
    before: RuleStat | None
    after: RuleStat | None


# -- running ---------------------------------------------------------------------------

RunHook = Callable[[RunConfig, str], tuple[int, float, dict[str, int]]]
"""Runs the flow for one side: `(config, label) -> (events, elapsed_s, counters)`."""


def compare_replays(
    config: RunConfig,
    baseline_rules: str,
    run: RunHook,
    *,
    keep_keys: bool = False,
) -> Comparison:
    """Replay `config.inputs` under `baseline_rules`, then under `config.rules_path`, and compare.

    `run` runs the flow for one side (the CLI passes one that shows progress).
    Each side gets a key prefix of its own under `config.prefix`; they are
    deleted afterwards unless `keep_keys`.
    """
    run_id = uuid.uuid4().hex[:8]
    sides = {
        "before": (baseline_rules, f"{config.prefix}-cmp-{run_id}-before"),
        "after": (config.rules_path, f"{config.prefix}-cmp-{run_id}-after"),
    }
    client = connect(config.redis_url)
    summaries: dict[str, RunSummary] = {}
    rule_sets: dict[str, Rules] = {}
    try:
        for label, (rules_path, prefix) in sides.items():
            rules = rule_sets[label] = load_rules(rules_path)
            side_config = msgspec.structs.replace(
                config,
                rules_path=rules_path,
                prefix=prefix,
                triggers_path=config.triggers_path if label == "after" else None,
                dead_letters_path=_side_path(config.dead_letters_path, label),
            )
            events, elapsed, counters = run(side_config, label)
            summaries[label] = RunSummary(
                label=label, rules_path=rules_path, rules_version=rules.version, prefix=prefix,
                events=events, elapsed_s=round(elapsed, 3),
                events_per_s=round(events / elapsed if elapsed else 0.0, 1),
                triggers=counters.get("triggers", 0), counters=counters,
            )  # fmt: skip
        return _compare(client, config, summaries, rule_sets)
    finally:
        if not keep_keys:
            for _, prefix in sides.values():
                delete_prefix(client, prefix)


def _side_path(path: str | None, label: str) -> str | None:
    """The candidate's dead letters go where asked; the baseline's beside them."""
    if path is None or label == "after":
        return path
    stem, dot, suffix = path.rpartition(".")
    return f"{stem}.baseline.{suffix}" if dot else f"{path}.baseline"


def _compare(
    client: redis.Redis,
    config: RunConfig,
    summaries: dict[str, RunSummary],
    rule_sets: dict[str, Rules],
) -> Comparison:
    before_sum, after_sum = summaries["before"], summaries["after"]
    before_triggers = read_all_triggers(client, layout_for(client, before_sum.prefix))
    after_triggers = read_all_triggers(client, layout_for(client, after_sum.prefix))
    # Scores are compared at one event time, the newest either run saw. Finding it takes
    # a pass of its own so that only (stage, score) per contact is held, not whole states.
    newest = max(
        (state.last_ts for s in summaries.values() for _, state in iter_states(client, s.prefix)),
        default=0,
    )
    as_of = max(newest, config.until_ms or 0)
    scores: dict[str, dict[str, float]] = {}
    stages: dict[str, dict[str, str]] = {}
    for label, summary in summaries.items():
        store = ContactStore(client, layout_for(client, summary.prefix))
        rules = rule_sets[label]
        model = store.load_model(rules.model) if rules.model.enabled else None
        journey = Journey(rules, model)
        scores[label], stages[label] = {}, {}
        for key, state in iter_states(client, summary.prefix):
            scores[label][key] = journey.score(state, as_of)
            stages[label][key] = state.stage
        summary.contacts = len(stages[label])
    stage_counts = {label: Counter(side.values()) for label, side in stages.items()}
    names = [s for s in STAGES if any(c[s] for c in stage_counts.values())]
    names += sorted({s for c in stage_counts.values() for s in c} - set(names))
    after_stages = stages["after"]
    moves = Counter(
        f"{stage} -> {after_stages[key]}"
        for key, stage in stages["before"].items()
        if key in after_stages and after_stages[key] != stage
    )
    return Comparison(
        events_file=", ".join(config.inputs),
        as_of=iso_ms(as_of),
        before=before_sum,
        after=after_sum,
        triggers=compare_triggers(before_triggers, after_triggers),
        scores=Histogram(
            edges=list(SCORE_BINS),
            before=_histogram(scores["before"].values()),
            after=_histogram(scores["after"].values()),
        ),
        score_stats={label: _stats(list(side.values())) for label, side in scores.items()},
        score_changes=_score_changes(scores["before"], scores["after"]),
        stages={
            name: [stage_counts["before"][name], stage_counts["after"][name]] for name in names
        },
        stage_moves=dict(moves.most_common()),
        lift=lift_changes(before_sum.counters, after_sum.counters),
        rules=compare_rules(
            rule_stats(before_sum.counters, rule_sets["before"]),
            rule_stats(after_sum.counters, rule_sets["after"]),
        ),
        rules_diff=rules_diff(before_sum.rules_path, after_sum.rules_path),
    )


def compare_rules(before: list[RuleStat], after: list[RuleStat]) -> list[RuleChange]:
    """Pair the two runs' per-rule statistics by rule name, the candidate's order first."""
    old = {s.rule: s for s in before}
    new = {s.rule: s for s in after}
    names = [s.rule for s in after] + [s.rule for s in before if s.rule not in new]
    return [
        RuleChange(
            rule=name,
            event=next((s.event for s in (new.get(name), old.get(name)) if s and s.event), None),
            before=old.get(name),
            after=new.get(name),
        )
        for name in names
    ]


def rules_diff(before_path: str, after_path: str) -> list[str]:
    """The two rules files as a unified diff (empty when they are the same text)."""
    texts = []
    for path in (before_path, after_path):
        try:
            with open(path, encoding="utf-8") as file:
                texts.append(file.read().splitlines())
        except OSError:
            texts.append([])
    return list(difflib.unified_diff(texts[0], texts[1], before_path, after_path, lineterm=""))


# -- matching --------------------------------------------------------------------------


@dataclass
class _Pairs:
    shifts: list[float]
    samples: dict[str, list[Sample]]


def compare_triggers(
    before: list[Trigger], after: list[Trigger], *, rearm_window_ms: int = REARM_WINDOW_MS
) -> list[TriggerChange]:
    """Per trigger name, what changed, matching firings by `trigger_id`.

    Event-armed firings (`EVENT_ARMED_KINDS`) left unmatched are then paired by
    contact and trigger, nearest firing first, within `rearm_window_ms`.

    >>> def t(id_, ts): return Trigger(trigger_id=id_, trigger="abandon_cart", kind="abandon_cart",
    ...     contact_id="c" + id_, ts=iso_ms(ts), ts_ms=ts, score=0.0, stage="decision",
    ...     channel=None, rules_version="v", reason={})
    >>> (change,) = compare_triggers([t("1", 0), t("2", 0)], [t("1", 1_800_000), t("3", 0)])
    >>> change.shifted, change.added, change.removed, change.shift_median_s
    (1, 1, 1, 1800.0)
    """
    old = {t.trigger_id: t for t in before}
    new = {t.trigger_id: t for t in after}
    rearmed = _pair_rearmed(
        [t for i, t in old.items() if i not in new],
        [t for i, t in new.items() if i not in old],
        rearm_window_ms,
    )
    paired_old = {was.trigger_id for was, _ in rearmed}
    paired_new = {now.trigger_id for _, now in rearmed}
    # (sort key, before, after, matched by contact); sorted by id (a hash): samples are a
    # deterministic, unbiased pick.
    matches: list[tuple[str, Trigger | None, Trigger | None, bool]] = [
        (was.trigger_id, was, now, True) for was, now in rearmed
    ]
    for trigger_id in old.keys() | new.keys():
        if trigger_id not in paired_old and trigger_id not in paired_new:
            matches.append((trigger_id, old.get(trigger_id), new.get(trigger_id), False))
    changes: dict[str, TriggerChange] = {}
    pairs: dict[str, _Pairs] = {}
    for trigger_id, was, now, is_rearmed in sorted(matches, key=lambda m: m[0]):
        either = was or now
        assert either is not None  # one of them is always set
        if either.trigger not in changes:
            changes[either.trigger] = TriggerChange(trigger=either.trigger)
            pairs[either.trigger] = _Pairs([], {"added": [], "removed": [], "shifted": []})
        change, found = changes[either.trigger], pairs[either.trigger]
        change.before += was is not None
        change.after += now is not None
        if was is not None and now is not None:
            if was.ts_ms == now.ts_ms and not is_rearmed:
                change.same += 1
                continue
            change.shifted += 1
            change.rearmed += is_rearmed
            shift_s: float | None = (now.ts_ms - was.ts_ms) / 1000
            found.shifts.append(shift_s or 0.0)
            kind = "shifted"
        else:
            shift_s = None
            kind = "removed" if now is None else "added"
            change.removed += kind == "removed"
            change.added += kind == "added"
        if len(found.samples[kind]) < SAMPLES:
            found.samples[kind].append(
                Sample(
                    contact=either.contact_id,
                    trigger_id=trigger_id,
                    before=was.ts if was else None,
                    after=now.ts if now else None,
                    shift_s=shift_s,
                    after_trigger_id=now.trigger_id if is_rearmed and now else None,
                )
            )
    for name, change in changes.items():
        shifts = sorted(pairs[name].shifts)
        if shifts:
            change.shift_median_s = round(percentile(shifts, 50), 3)
            change.shift_p90_s = round(percentile(shifts, 90), 3)
            change.shift_min_s, change.shift_max_s = shifts[0], shifts[-1]
        change.samples = {k: v for k, v in pairs[name].samples.items() if v}
    return sorted(changes.values(), key=lambda c: c.trigger)


def _pair_rearmed(
    removed: list[Trigger], added: list[Trigger], window_ms: int
) -> list[tuple[Trigger, Trigger]]:
    """Event-armed firings of one contact and trigger, paired nearest in time first.

    >>> def t(id_, ts): return Trigger(trigger_id=id_, trigger="sales_ready", kind="sales_ready",
    ...     contact_id="c1", ts=iso_ms(ts), ts_ms=ts, score=0.0, stage="decision",
    ...     channel=None, rules_version="v", reason={})
    >>> olds, news = [t("a", 0), t("b", 10_000_000)], [t("x", 9_000_000), t("y", 9 * 10**10)]
    >>> [(a.trigger_id, b.trigger_id) for a, b in _pair_rearmed(olds, news, 86_400_000)]
    [('b', 'x')]
    """
    groups: dict[tuple[str, str], tuple[list[Trigger], list[Trigger]]] = {}
    for side, triggers in enumerate((removed, added)):
        for t in triggers:
            if t.kind in EVENT_ARMED_KINDS:
                groups.setdefault((t.contact_id, t.trigger), ([], []))[side].append(t)
    pairs: list[tuple[Trigger, Trigger]] = []
    for olds, news in groups.values():
        if not olds or not news:
            continue
        candidates = sorted(
            (abs(n.ts_ms - o.ts_ms), o.trigger_id, n.trigger_id, o, n)
            for o in olds
            for n in news
            if abs(n.ts_ms - o.ts_ms) <= window_ms
        )  # a contact fires a trigger a few times at most: the square stays small
        used: set[str] = set()
        for _, old_id, new_id, o, n in candidates:
            if old_id not in used and new_id not in used:
                used.update((old_id, new_id))
                pairs.append((o, n))
    return pairs


def percentile(ordered: list[float], q: float) -> float:
    """The `q`th percentile of sorted values, by linear interpolation.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([5.0], 90)
    (2.5, 5.0)
    """
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- distributions ---------------------------------------------------------------------


def _histogram(values: Iterable[float]) -> list[int]:
    counts = [0] * (len(SCORE_BINS) - 1)
    for value in values:
        for index in range(len(counts)):
            if value < SCORE_BINS[index + 1]:
                counts[index] += 1
                break
    return counts


def _stats(values: list[float]) -> ScoreStats:
    if not values:
        return ScoreStats()
    ordered = sorted(values)
    return ScoreStats(
        mean=round(sum(ordered) / len(ordered), 3),
        p50=round(percentile(ordered, 50), 3),
        p90=round(percentile(ordered, 90), 3),
        max=ordered[-1],
    )


def _score_changes(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    changes = Counter[str]()
    for key, old in before.items():
        new = after.get(key)
        if new is None:
            continue
        changes["up" if new > old + 0.01 else "down" if new < old - 0.01 else "same"] += 1
    return {k: changes[k] for k in ("up", "down", "same")}
