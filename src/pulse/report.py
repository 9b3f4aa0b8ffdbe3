"""What the CLI shows: progress while a run goes, its summary, and one contact.

Summaries read pulse's counters back from Redis, so they report what was
committed, not what a process believes it did.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args

import msgspec
import redis
from bytewax.errors import BytewaxRuntimeError
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import run_main
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from pulse import windows
from pulse.batch import SourceBatch
from pulse.config import RunConfig
from pulse.contact import ContactState
from pulse.engine import Engine
from pulse.errors import StateError
from pulse.features import extract_features
from pulse.flow import BatchObserver, build_flow
from pulse.live import terminal_console
from pulse.model import LeadModel
from pulse.outcomes import TriggerOutcome, read_purchases, trigger_outcomes
from pulse.panics import hide_rust_panics
from pulse.redis_client import set_default_retry_s
from pulse.rules import Rules, load_rules
from pulse.rulestats import RuleStat, rule_stats, zero_hit_warnings
from pulse.scoring import score_at, score_breakdown
from pulse.state import ContactStore, connect, layout_for, read_all_triggers
from pulse.triggers import Decision, iso_ms

__all__ = ["RunReport", "print_contact", "print_rule_stats", "run_flow"]


class RunReport:
    """Counts a run's progress and prints its summary."""

    def __init__(self, config: RunConfig, *, show_progress: bool = False) -> None:
        self.config = config
        self.console = Console(stderr=True)
        self.events = 0
        self.rejected = 0
        self.started = time.perf_counter()
        self.elapsed_s = 0.0
        self.totals: Counter[str] = Counter()
        self.stages: dict[str, int] = {}
        self.model_quality: dict[str, float] = {}
        self.outcomes: dict[str, TriggerOutcome] = {}
        """Per trigger: contacts named and how many bought within 7 days (file inputs)."""
        self.started_at_ms = int(time.time() * 1000)
        self.workers = 1
        self.rules: Rules | None = None
        """The rules the run ended under (a hot reload may have replaced the file's first
        version; the file itself may no longer be valid when the summary is written)."""
        """Worker processes of the run (`--workers`); the parent fills in what follows."""
        self.cpu_s: float | None = None
        """CPU time of the run (user + system); `None`: this process's own."""
        self.peak_mb: float | None = None
        """Peak resident memory of the largest process; `None`: this process's own."""
        self._progress: Progress | None = None
        self._task = None
        self._input_bytes = input_bytes(config)
        """Size of the input files, when known: the bar fills with the bytes read."""
        self._read_to: dict[str, int] = {}
        # Not on a pipe or in CI: a bar redrawn there is control characters, not progress.
        terminal = terminal_console() if show_progress else None
        if terminal is not None:
            columns: list[ProgressColumn | str] = [TextColumn("replay"), BarColumn()]
            if self._input_bytes is not None:
                columns += [TaskProgressColumn(), TextColumn("ETA"), TimeRemainingColumn()]
            columns += [
                TextColumn("{task.fields[events]} events"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
            ]
            self._progress = Progress(*columns, console=terminal, transient=True)
            self._task = self._progress.add_task(
                "replay", total=self._input_bytes, events="0", rate=""
            )

    def on_batch(self, batches: list[SourceBatch], engine: Engine) -> None:
        """Called by the flow after each committed batch."""
        self.events += sum(len(b.events) for b in batches)
        self.rejected += sum(len(b.rejected) for b in batches)
        read_to = self._read_to
        for batch in batches:
            for stream, offset in batch.read_to.items():
                if stream and offset > read_to.get(stream, 0):
                    read_to[stream] = offset
        self.show_progress(self.events, sum(read_to.values()))

    def show_progress(self, events: int, read_bytes: int | None = None) -> None:
        """Show `events` processed so far on the progress bar (when there is one); with the
        input's size known, the bar fills with `read_bytes` (percent and ETA)."""
        if self._progress is not None and self._task is not None:
            rate = events / max(time.perf_counter() - self.started, 1e-9)
            is_sized = self._input_bytes is not None and read_bytes is not None
            self._progress.update(
                self._task,
                completed=read_bytes if is_sized else events,
                events=f"{events:,}",
                rate=f"{rate:,.0f}/s",
            )

    def __enter__(self) -> RunReport:
        if self._progress is not None:
            self._progress.start()
        self.started = time.perf_counter()
        self.started_at_ms = int(time.time() * 1000)
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed_s = time.perf_counter() - self.started
        if self._progress is not None:
            self._progress.stop()
            self._progress.console.file.close()

    def collect(self, store: ContactStore) -> None:
        """Read the committed counters from Redis."""
        stats, self.stages = store.counts()
        self.totals = Counter(stats)
        self.model_quality = store.model_quality()
        self.outcomes = self._outcomes(store)

    def summary_json(self) -> bytes:
        """The run's counters, triggers by kind, stages and per-rule statistics, as JSON."""
        totals = {k: v for k, v in sorted(self.totals.items()) if not k.startswith("rule:")}
        summary = {
            "rules_path": self.config.rules_path,
            "events": self.events,
            "elapsed_s": round(self.elapsed_s, 3),
            "counters": totals,
            "stages": self.stages,
            "rules": self.rule_stats(),
            "zero_hit_rules": zero_hit_warnings(self.rule_stats()),
        }
        return msgspec.json.format(msgspec.json.encode(summary), indent=2) + b"\n"

    def rule_stats(self) -> list[RuleStat]:
        """What each point rule of the run's rules file did (from the committed counters)."""
        return rule_stats(self.totals, self.rules or load_rules(self.config.rules_path))

    def _outcomes(self, store: ContactStore) -> dict[str, TriggerOutcome]:
        """This run's triggers (from Redis) against the purchases in its input files.

        Empty when the input is not files (generator, Kafka) or holds no purchase.
        """
        paths = [Path(p) for p in self.config.inputs if self.config.kafka is None]
        if not paths or not all(p.is_file() for p in paths):
            return {}
        purchases: dict[str, list[int]] = {}
        for path in paths:
            with path.open("rb") as lines:
                for key, times in read_purchases(lines).items():
                    purchases.setdefault(key, []).extend(times)
        if not purchases:
            return {}
        for times in purchases.values():
            times.sort()
        since = iso_ms(self.started_at_ms - 1_000)  # this run's triggers, not earlier runs'
        triggers = [
            t for t in read_all_triggers(store.client, store.layout) if t.emitted_at >= since
        ]
        outcomes = {o.trigger: o for o in trigger_outcomes(triggers, purchases, OUTCOME_HORIZON_MS)}
        sales = [t for t in triggers if t.kind == "sales_ready" and "threshold" in t.reason]
        if sales:
            # Where the rule points alone were over the threshold, and where the model lifted.
            by_points = [t for t in sales if t.reason["points"] >= t.reason["threshold"]]
            lifted = [t for t in sales if t.reason["points"] < t.reason["threshold"]]
            for label, group in (("points alone over", by_points), ("model lifted", lifted)):
                for outcome in trigger_outcomes(group, purchases, OUTCOME_HORIZON_MS):
                    name = f"{outcome.trigger} ({label})"
                    outcomes[name] = TriggerOutcome(
                        name, outcome.fired, outcome.contacts, outcome.bought
                    )
        return outcomes

    def print_summary(self) -> None:
        """Triggers by kind, contacts by stage, throughput, CPU and memory."""
        rate = self.events / self.elapsed_s if self.elapsed_s else 0.0
        out = self.console
        if self.cpu_s is None:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu_s = usage.ru_utime + usage.ru_stime
        else:
            cpu_s = self.cpu_s
        peak = peak_rss_mb() if self.peak_mb is None else self.peak_mb
        processes = f"{self.workers} worker processes, " if self.workers > 1 else ""
        out.print(
            f"\n[bold]pulse[/] processed {self.events:,} events in {self.elapsed_s:.1f}s "
            f"({rate:,.0f} events/s), {processes}CPU {cpu_s:.1f}s, "
            f"peak memory {peak:.0f} MiB" + (" per process" if self.workers > 1 else "")
        )
        counts = Table(title="counters", show_header=False)
        for name in ("events", "duplicates", "late", "stale", "rejected", "triggers"):
            counts.add_row(name, f"{self.totals.get(name, 0):,}")
        kinds = Table(title="triggers by kind and decision")
        kinds.add_column("trigger")
        kinds.add_column("fired", justify="right")
        for decision in DECISIONS:
            kinds.add_column(decision.replace("_", " "), justify="right")
        outcomes = self.outcomes
        if outcomes:
            kinds.add_column("contacts", justify="right")
            kinds.add_column("bought within 7d", justify="right")
        blank = [""] * len(DECISIONS)
        for name, value in sorted(self.totals.items()):
            if name.startswith("trigger:"):
                trigger = name.removeprefix("trigger:")
                decided = [
                    f"{self.totals.get(f'trigger_decision:{trigger}:{d}', 0):,}" for d in DECISIONS
                ]
                kinds.add_row(trigger, f"{value:,}", *decided, *_bought(outcomes, trigger))
                for part, outcome in sorted(outcomes.items()):
                    if part.startswith(trigger + " ("):
                        kinds.add_row(
                            f"  {part}", f"{outcome.fired:,}", *blank, *_bought(outcomes, part)
                        )
        stages = Table(title="contacts by stage")
        stages.add_column("stage")
        stages.add_column("contacts", justify="right")
        for name, value in sorted(self.stages.items(), key=lambda kv: -kv[1]):
            if value:
                stages.add_row(name, f"{value:,}")
        out.print(counts, kinds)
        reasons = _suppressed_reasons(self.totals)
        if reasons is not None:
            out.print(reasons)
        out.print(stages)
        print_rule_stats(self.rule_stats(), out)
        quality = self.model_quality
        if quality.get("labels"):
            out.print(
                f"model: {int(quality['labels']):,} labels learned "
                f"({int(quality['positives']):,} purchases), prequential ROC AUC "
                f"{quality['roc_auc']:.3f}, log loss {quality['log_loss']:.3f} "
                f"(rule points alone: {quality.get('points_roc_auc', 0.0):.3f}, "
                f"{quality.get('points_log_loss', 0.0):.3f}); "
                + ("in the score" if quality.get("blended") else "not in the score")
            )
        if self.totals.get("rejected") and self.config.dead_letters_path:
            out.print(f"dead letters written to {self.config.dead_letters_path}")
        # Last, so a run ends with it: what the triggers did (`pulse report` has the rest).
        from pulse.liftreport import build_report, print_lift

        print_lift(build_report(self.totals, self.stages), out)


def print_rule_stats(stats: list[RuleStat], out: Console) -> None:
    """The per-rule table, and a warning line for each rule that matched nothing."""
    table = Table(title="point rules")
    for name in ("rule", "event", "matched", "points added", "stage moves", "triggers"):
        table.add_column(name, justify="left" if name in ("rule", "event") else "right",
                         no_wrap=name == "rule")  # fmt: skip
    for s in stats:
        table.add_row(
            s.rule, s.event or "(not in the rules)", f"{s.hits:,}", f"{s.points:,.1f}",
            f"{s.stage_moves:,}", f"{s.triggers:,}", style="yellow" if not s.hits else None,
        )  # fmt: skip
    out.print(table)
    for warning in zero_hit_warnings(stats):
        out.print(f"[yellow]warning:[/] {warning}")


def input_bytes(config: RunConfig) -> int | None:
    """The total size of the run's input files; `None` when it is not known in advance
    (the generator, Kafka, standard input, gzip: offsets count decompressed bytes)."""
    paths = [Path(p) for p in config.inputs]
    if config.kafka is not None or not paths or any(not p.is_file() for p in paths):
        return None
    total = 0
    for path in paths:
        with path.open("rb") as file:
            if file.read(2) == b"\x1f\x8b":
                return None
        total += path.stat().st_size
    return total


OUTCOME_HORIZON_MS = 7 * 86_400_000
"""The replay summary counts contacts who bought within this long after a trigger."""


DECISIONS: tuple[Decision, ...] = get_args(Decision)
"""The decisions a trigger carries (`pulse.triggers.Decision`), in table order."""


def _suppressed_reasons(totals: Mapping[str, int]) -> Table | None:
    """Why triggers were suppressed, most common first (None: none was)."""
    reasons = sorted(
        (
            (name.removeprefix("decision:suppressed:"), n)
            for name, n in totals.items()
            if name.startswith("decision:suppressed:") and n
        ),
        key=lambda kv: -kv[1],
    )
    if not reasons:
        return None
    table = Table(title="suppressed, by reason")
    table.add_column("reason")
    table.add_column("triggers", justify="right")
    for reason, n in reasons:
        table.add_row(reason, f"{n:,}")
    return table


def _bought(outcomes: dict[str, TriggerOutcome], name: str) -> list[str]:
    """The contacts and bought-within-7-days cells of a trigger's summary row."""
    if not outcomes:
        return []
    outcome = outcomes.get(name)
    if outcome is None:
        return ["", ""]
    return [f"{outcome.contacts:,}", f"{outcome.bought:,} ({outcome.precision:.0%})"]


def run_flow(config: RunConfig, report: RunReport, observer: BatchObserver | None = None) -> None:
    """Run the dataflow in this process until its input ends (`observer`: see `build_flow`).

    Bytewax wraps whatever a step raised, and a signal's `KeyboardInterrupt`, in
    `BytewaxRuntimeError`s; they are unwrapped here, once, so the caller sees
    pulse's own error (`flow_error`), and Rust's panic report never reaches stderr.
    """
    rules = load_rules(config.rules_path)
    client = connect(config.redis_url, retry_s=config.redis_retry_s)
    store = ContactStore(client, layout_for(client, config.prefix))
    before, _ = store.counts()
    set_default_retry_s(config.redis_retry_s)  # the clients the flow builds per worker
    flow, factory = build_flow(config, rules, on_batch=report.on_batch, observer=observer)
    error: BaseException | None = None
    with report:
        try:
            with hide_rust_panics():
                run_main(flow, **_recovery(config))  # type: ignore[no-untyped-call]  # bytewax is untyped
        except BaseException as exc:  # translated below, once, and re-raised
            error = flow_error(exc)
        finally:
            set_default_retry_s(None)
        report.rules = factory.engines[-1].journey.rules if factory.engines else rules
        # After a Redis failure, releasing the trainer lease would wait out a second budget.
        if not isinstance(error, StateError):
            factory.close()
    if error is not None:
        raise error
    report.collect(store)
    report.totals.subtract(before)


def flow_error(exc: BaseException) -> BaseException:
    """The error to report for an exception out of `run_main`: what a step raised, unwrapped.

    Redis client errors that escaped the state seam become a `StateError`.

    >>> inner = ValueError("bad")
    >>> wrapped = BytewaxRuntimeError("error calling `mapper` in step")
    >>> wrapped.__cause__ = inner
    >>> flow_error(wrapped) is inner
    True
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if (
            not isinstance(current, BytewaxRuntimeError)
            and type(current).__name__ != "PanicException"
        ):
            break
        current = current.__cause__ or current.__context__
    original = exc if current is None else current
    if isinstance(original, redis.RedisError):
        error = StateError(f"Redis failed: {original}")
        error.__cause__ = original
        return error
    return original


def _recovery(config: RunConfig) -> dict[str, Any]:
    """Recovery options for bytewax; an empty recovery directory is initialised first."""
    if not config.recovery_dir:
        return {}
    path = Path(config.recovery_dir)
    if not path.exists() or not any(path.iterdir()):
        path.mkdir(parents=True, exist_ok=True)
        init_db_dir(path, 1)  # type: ignore[no-untyped-call]  # bytewax is untyped; 1: one process
    return {
        "epoch_interval": timedelta(seconds=config.snapshot_interval_s),
        "recovery_config": RecoveryConfig(path),  # type: ignore[no-untyped-call]  # idem
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _print_model(
    out: Console, model: LeadModel, state: ContactState, now: int, points: float
) -> None:
    quality = model.quality()
    if model.is_proven:
        warm = "counts in the score"
    elif model.is_warm:
        warm = "not in the score: it does not beat rule points alone yet"
    else:
        warm = f"warming up ({model.spec.warmup_labels})"
    out.print(
        f"model: {quality['labels']} labels learned ({warm}), prequential ROC AUC "
        f"{quality['roc_auc']:.3f}, recent log loss {quality['recent_log_loss']:.3f} "
        f"(rule points alone: {quality['points_roc_auc']:.3f}, "
        f"{quality['points_recent_log_loss']:.3f})"
    )
    features = extract_features(state, now, state.last_active_ts, points)
    contributions = model.contributions(features)
    if contributions:
        terms = ", ".join(f"{name} {value:+.2f}" for name, value in contributions.items())
        out.print(f"model's largest terms (log-odds): {terms}")


def print_contact(
    redis_url: str, prefix: str, contact: str, rules: Rules, at_ms: int | None
) -> int:
    """Print one contact's windows, score breakdown, stage, timers; 1 if unknown."""
    client = connect(redis_url)
    store = ContactStore(client, layout_for(client, prefix))
    state = store.read_contact(contact)
    out = Console()
    if state is None:
        print(f"pulse: no state for contact `{contact}` under prefix `{prefix}`", file=sys.stderr)
        return 1
    now = at_ms or state.last_ts
    points = score_at(state, now, rules.scoring)
    model = store.load_model(rules.model) if rules.model.enabled else None
    p = state.model_p if state.model_p >= 0 else None
    model_part = model.blend(points, p) if model is not None else 0.0
    score = round(points + model_part, 3)
    out.print(f"[bold]{contact}[/]  stage [bold]{state.stage}[/]  score [bold]{score}[/]")
    shown_p = "none yet" if p is None else f"{p:.3f}"
    out.print(
        f"score = rule points {points:.2f} + model {model_part:.2f} "
        f"(purchase probability {shown_p} on the points scale, at most "
        f"{rules.model.weight:g} points either way)"
    )
    if model is not None:
        _print_model(out, model, state, now, points)
    out.print(f"first seen {iso_ms(state.first_ts)}, last seen {iso_ms(state.last_ts)}")
    out.print(f"purchases {state.purchases}, revenue {state.revenue:.2f}, lost {state.lost}")
    if state.cart:
        out.print(f"open cart: {len(state.cart)} items, value {state.cart_value():.2f}")
    counts = Table(title=f"event counts at {iso_ms(now)}")
    counts.add_column("type")
    for name in windows.WINDOWS_MS:
        counts.add_column(name, justify="right")
    for type_, buckets in sorted(state.counts.items()):
        row = [str(windows.count(buckets, now, ms)) for ms in windows.WINDOWS_MS.values()]
        counts.add_row(type_, *row)
    parts = Table(title="score breakdown (decayed rule points)")
    parts.add_column("rule")
    parts.add_column("points", justify="right")
    for name, value in score_breakdown(state, now, rules.scoring).items():
        parts.add_row(name, f"{value:.2f}")
    timers = Table(title="pending timers")
    timers.add_column("slot")
    timers.add_column("due")
    timers.add_column("armed by")
    for slot, timer in sorted(state.timers.items(), key=lambda kv: kv[1].due_ms):
        timers.add_row(slot, iso_ms(timer.due_ms), timer.episode)
    history = Table(title="stage history")
    history.add_column("at")
    history.add_column("stage")
    for ts, stage in state.stage_history:
        history.add_row(iso_ms(ts), stage)
    out.print(counts, parts, timers, history)
    return 0
