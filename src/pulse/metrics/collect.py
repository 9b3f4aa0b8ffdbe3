"""What a running flow did, counted from its batch step (see `pulse.metrics`)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import msgspec
import redis
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pulse.batch import SourceBatch
from pulse.engine import Engine
from pulse.errors import StateError
from pulse.events import Rejected
from pulse.state import ContactStore, layout_for
from pulse.triggers import Trigger

__all__ = ["DEFAULT_READY_WATERMARK_S", "FlowMetrics", "TriggerSeen", "reason_category"]

DEFAULT_READY_WATERMARK_S = 60.0
"""A live run is ready while a watermark moved within this many seconds."""

_LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_RECENT_TRIGGERS = 50
_MODEL_EVERY_S = 1.0
_MINUTES_KEPT = 30
"""The model's quality is recomputed at most this often (it sums its ROC bins)."""

# A dead letter's reason, reduced to a fixed label: the first pattern found wins.
_REASON_CATEGORIES = (
    ("byte limit", "too_large"),
    ("nested more than", "too_deep"),
    ("utf-8", "invalid_utf8"),
    ("malformed", "malformed_json"),
    ("gzip", "corrupt_input"),
    ("no value (null)", "null_message"),
    ("missing required field", "missing_field"),
    ("neither `contact_id` nor `anonymous_id`", "no_contact"),
    ("unknown event type", "unknown_type"),
    ("`ts`", "bad_ts"),
    ("control character", "control_character"),
    ("nul character", "control_character"),
    ("`props", "bad_props"),
    ("expected", "wrong_type"),
)


def reason_category(reason: str) -> str:
    """The bounded label of a dead letter's reason (`other` when no category fits).

    >>> reason_category("event is 2000000 bytes, over the 1048576 byte limit")
    'too_large'
    >>> reason_category("Expected `str`, got `int` - at `$.type`")
    'wrong_type'
    >>> reason_category("unknown event type `clicky`; declare it under `event_types`")
    'unknown_type'
    >>> reason_category("something new")
    'other'
    """
    text = reason.lower()
    for pattern, category in _REASON_CATEGORIES:
        if pattern in text:
            return category
    return "other"


class TriggerSeen(msgspec.Struct, frozen=True):
    """One recent trigger, as the live views show it."""

    ts: str
    trigger: str
    kind: str
    contact_id: str
    decision: str
    stage: str
    score: float


class FlowMetrics:
    """Everything the metrics, the health checks and the live views show about one process.

    Thread-safe: the batch step calls `observe` from its worker threads while the
    HTTP server and the terminal view read.
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        prefix: str = "pulse",
        is_live: bool = False,
        ready_watermark_s: float = DEFAULT_READY_WATERMARK_S,
    ) -> None:
        self.redis_url = redis_url
        self.is_live = is_live
        self.ready_watermark_s = ready_watermark_s
        self.started_s = time.monotonic()
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        r = self.registry
        self.events = PromCounter(
            "pulse_events", "Input events by source partition and outcome.",
            ["partition", "outcome"], registry=r,
        )  # fmt: skip
        self.dead_letters = PromCounter(
            "pulse_dead_letters", "Dead letters by reason category.", ["reason"], registry=r
        )
        self.triggers = PromCounter(
            "pulse_triggers", "Triggers by name, kind and decision.",
            ["trigger", "kind", "decision"], registry=r,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "pulse_batch_seconds", "Batch step: a batch's arrival in the step to its commit.",
            buckets=_LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.commit_seconds = Histogram(
            "pulse_commit_seconds", "The batch's one atomic commit to Redis.",
            buckets=_LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.event_to_trigger_seconds = Histogram(
            "pulse_event_to_trigger_seconds",
            "Per trigger: its batch's arrival in the batch step to the commit that emitted it.",
            buckets=_LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.redis_ping_seconds = Histogram(
            "pulse_redis_ping_seconds", "Redis round trip (PING) of the health probe.",
            buckets=_LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self.redis_errors = PromCounter(
            "pulse_redis_errors", "Redis calls of the health probe that failed.", ["op"],
            registry=r,
        )  # fmt: skip
        self.batches = 0
        self.trigger_counts: Counter[tuple[str, str]] = Counter()
        """(trigger, decision) -> fired, for the live views."""
        self.outcome_counts: Counter[str] = Counter()
        self.recent: deque[TriggerSeen] = deque(maxlen=_RECENT_TRIGGERS)
        self.per_minute: dict[int, Counter[tuple[str, str]]] = {}
        """Wall-clock minute (epoch s // 60) -> (trigger, decision) -> fired, the last
        `_MINUTES_KEPT` minutes (the dashboard's chart)."""
        self.stages: dict[str, int] = {}
        """Contacts per stage, as committed in Redis (refreshed by `probe_redis`)."""
        self.progress: tuple[int, int] | None = None
        """Bytes read and total bytes of the file inputs, when known."""
        self._watermarks: dict[str, int] = {}
        self._watermark_moved_s = time.monotonic()
        self._kafka_lag: dict[str, int] = {}
        self._seen: dict[int, Counter[str]] = {}
        """Per engine, the totals already counted (the engine's counters only grow)."""
        self._model: dict[str, float | int] = {}
        self._model_read_s = 0.0
        self._cached: dict[int, int] = {}
        self._prefix = prefix
        self._redis: redis.Redis | None = None
        self._store: ContactStore | None = None
        self._client_lock = threading.Lock()
        self._probe: threading.Thread | None = None
        self._stop_probe = threading.Event()
        self.registry.register(_Gauges(self))

    # The batch step's side -------------------------------------------------

    def observe(
        self,
        batches: list[SourceBatch],
        engine: Engine,
        out: list[Trigger | Rejected],
        seconds: float,
    ) -> None:
        """Count one committed batch step (`pulse.flow.BatchObserver`)."""
        now_s = time.monotonic()
        minute = int(time.time() // 60)
        self.batch_seconds.observe(seconds)
        self.commit_seconds.observe(engine.last_commit_s)
        with self._lock:
            self.batches += 1
            self._count_events(batches, engine)
            for batch in batches:
                if self._watermarks.get(batch.partition) != batch.watermark_ms:
                    self._watermarks[batch.partition] = batch.watermark_ms
                    self._watermark_moved_s = now_s
                for rejected in batch.rejected:
                    self.dead_letters.labels(reason_category(rejected.reason)).inc()
            for item in out:
                if isinstance(item, Trigger):
                    self.triggers.labels(item.trigger, item.kind, item.decision).inc()
                    self.event_to_trigger_seconds.observe(seconds)
                    self.trigger_counts[item.trigger, item.decision] += 1
                    if minute not in self.per_minute:
                        self.per_minute[minute] = Counter()
                        for old in [m for m in self.per_minute if m <= minute - _MINUTES_KEPT]:
                            del self.per_minute[old]
                    self.per_minute[minute][item.trigger, item.decision] += 1
                    self.recent.append(
                        TriggerSeen(
                            item.ts,
                            item.trigger,
                            item.kind,
                            item.contact_id,
                            item.decision,
                            item.stage,
                            item.score,
                        )
                    )
            self._cached[id(engine)] = engine.cached_contacts
            if engine.model is not None and now_s - self._model_read_s >= _MODEL_EVERY_S:
                self._model = engine.model.quality()
                self._model_read_s = now_s

    def _count_events(self, batches: list[SourceBatch], engine: Engine) -> None:
        """Outcomes per partition: late and rejected from the batches, the rest from the
        engine's totals since its last batch, apportioned to the batches' partitions by
        their released events (exact when a batch step holds one partition)."""
        seen = self._seen.setdefault(id(engine), Counter())
        totals = engine.totals
        delta = {
            outcome: totals[name] - seen[name]
            for outcome, name in (
                ("applied", "events"), ("duplicate", "duplicates"), ("replayed", "replayed")
            )
        }  # fmt: skip
        for name in ("events", "duplicates", "replayed"):
            seen[name] = totals[name]
        released = {b.partition: 0 for b in batches}
        for batch in batches:
            released[batch.partition] += len(batch.events)
            self._inc(batch.partition, "late", len(batch.late_at))
            self._inc(batch.partition, "rejected", len(batch.rejected))
        for outcome, count in delta.items():
            for partition, share in _apportion(count, released).items():
                self._inc(partition, outcome, share)

    def _inc(self, partition: str, outcome: str, count: int) -> None:
        if count > 0:
            self.events.labels(partition, outcome).inc(count)
            self.outcome_counts[outcome] += count

    # Sources' side ---------------------------------------------------------

    def watch_kafka_lag(self) -> None:
        """Take the consumer lag the Kafka source logs (`kafka lag ...`) as a gauge."""
        source_log = logging.getLogger("pulse.kafka")
        if any(isinstance(h, _LagHandler) and h.metrics is self for h in source_log.handlers):
            return
        source_log.addHandler(_LagHandler(self))
        if source_log.getEffectiveLevel() > logging.INFO:
            source_log.setLevel(logging.INFO)

    def set_kafka_lag(self, partition: str, lag: int) -> None:
        with self._lock:
            self._kafka_lag[partition] = lag

    # Readers' side ---------------------------------------------------------

    def start_probe(self, interval_s: float = 2.0) -> None:
        """Probe Redis every `interval_s` on a daemon thread (round trip, stage counts)."""
        if not self.redis_url or self._probe is not None:
            return
        stop = self._stop_probe

        def run() -> None:
            while not stop.wait(interval_s):
                self.probe_redis()

        self._probe = threading.Thread(target=run, name="pulse-redis-probe", daemon=True)
        self._probe.start()

    def stop_probe(self) -> None:
        """Stop the probe thread (before a private Redis goes away)."""
        self._stop_probe.set()
        if self._probe is not None:
            self._probe.join()
            self._probe = None

    def probe_redis(self) -> str | None:
        """PING Redis (timed, counted) and refresh the stage counts; the problem, or None."""
        if not self.redis_url:
            return None
        with self._client_lock:
            if self._redis is None:
                # Built on first use: a bad URL is the flow's to report, at its start.
                # No retry: a probe answers now, or says Redis is unreachable.
                try:
                    self._redis = redis.Redis.from_url(
                        self.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0
                    )
                except ValueError:
                    return "the Redis URL is invalid"
                self._store = ContactStore(self._redis, layout_for(self._redis, self._prefix))
        assert self._store is not None
        started = time.perf_counter()
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            self.redis_errors.labels("ping").inc()
            return f"Redis does not answer: {type(exc).__name__}"
        self.redis_ping_seconds.observe(time.perf_counter() - started)
        try:
            _, stages = self._store.counts()
        except (redis.RedisError, StateError) as exc:  # a probe reports; the flow decides
            self.redis_errors.labels("counts").inc()
            return f"Redis does not answer: {type(exc).__name__}"
        with self._lock:
            self.stages = {k: v for k, v in stages.items() if v}
        return None

    def readiness(self) -> list[str]:
        """Why this process is not ready (empty: ready)."""
        problems = []
        problem = self.probe_redis()
        if problem:
            problems.append(problem)
        if self.is_live:
            idle_s = time.monotonic() - self._watermark_moved_s
            if idle_s > self.ready_watermark_s:
                problems.append(
                    f"no watermark moved for {idle_s:.0f}s (limit {self.ready_watermark_s:g}s)"
                )
        return problems

    def snapshot(self) -> dict[str, Any]:
        """The live views' data: counts, rates, stages and recent triggers, as plain JSON."""
        with self._lock:
            triggers = [
                {"trigger": t, "decision": d, "count": n}
                for (t, d), n in sorted(self.trigger_counts.items())
            ]
            return {
                "uptime_s": round(time.monotonic() - self.started_s, 3),
                "batches": self.batches,
                "events": dict(self.outcome_counts),
                "triggers": triggers,
                "stages": dict(self.stages),
                "recent": [msgspec.to_builtins(t) for t in reversed(self.recent)],
                "per_minute": [
                    {"minute_s": m * 60, "trigger": t, "decision": d, "count": n}
                    for m, counts in sorted(self.per_minute.items())
                    for (t, d), n in sorted(counts.items())
                ],
                "is_live": self.is_live,
                "watermarks": dict(self._watermarks),
                "progress": list(self.progress) if self.progress else None,
            }

    def gauges(self) -> Iterator[GaugeMetricFamily]:
        """The families read when scraped (watermarks, lag, model, cache, stages)."""
        now_ms = time.time() * 1000
        with self._lock:
            watermarks = dict(self._watermarks)
            kafka_lag = dict(self._kafka_lag)
            model = dict(self._model)
            cached = sum(self._cached.values())
            stages = dict(self.stages)
        mark = GaugeMetricFamily(
            "pulse_watermark_timestamp_seconds", "Each partition's watermark (event time).",
            labels=["partition"],
        )  # fmt: skip
        lag = GaugeMetricFamily(
            "pulse_watermark_lag_seconds",
            "Wall clock minus each partition's watermark (live runs only).",
            labels=["partition"],
        )
        for partition, watermark_ms in sorted(watermarks.items()):
            mark.add_metric([partition], watermark_ms / 1000)
            if self.is_live:
                lag.add_metric([partition], (now_ms - watermark_ms) / 1000)
        yield mark
        yield lag
        consumer = GaugeMetricFamily(
            "pulse_kafka_consumer_lag", "Kafka records behind the end of each partition.",
            labels=["partition"],
        )  # fmt: skip
        for partition, records in sorted(kafka_lag.items()):
            consumer.add_metric([partition], records)
        yield consumer
        for key, name, text in (
            ("labels", "pulse_model_labels", "Labels the online model learned from."),
            ("roc_auc", "pulse_model_roc_auc", "The model's prequential ROC AUC."),
            ("log_loss", "pulse_model_log_loss", "The model's prequential log loss."),
            ("points_roc_auc", "pulse_model_points_roc_auc", "ROC AUC of rule points alone."),
            ("drifts", "pulse_model_drifts", "Drifts the model detected."),
        ):
            family = GaugeMetricFamily(name, text)
            if key in model:
                family.add_metric([], float(model[key]))
            yield family
        yield GaugeMetricFamily(
            "pulse_contacts_cached", "Contact states held in memory.", value=cached
        )
        by_stage = GaugeMetricFamily(
            "pulse_contacts", "Contacts per stage, as committed in Redis.", labels=["stage"]
        )
        for stage, count in sorted(stages.items()):
            by_stage.add_metric([stage], count)
        yield by_stage


def _apportion(count: int, weights: dict[str, int]) -> dict[str, int]:
    """Split `count` over `weights` (largest remainder; all to the first when all are 0).

    >>> _apportion(10, {"a": 3, "b": 1})
    {'a': 8, 'b': 2}
    >>> _apportion(5, {"a": 0})
    {'a': 5}
    """
    if count <= 0 or not weights:
        return {}
    total = sum(weights.values())
    if total == 0:
        return {next(iter(weights)): count}
    shares = {k: count * w // total for k, w in weights.items()}
    rest = count - sum(shares.values())
    for key in sorted(weights, key=lambda k: -(count * weights[k] % total))[:rest]:
        shares[key] += 1
    return shares


class _Gauges(Collector):
    def __init__(self, metrics: FlowMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return self.metrics.gauges()


class _LagHandler(logging.Handler):
    """Reads the Kafka source's `kafka lag <partition>: <lag> (offset .., end ..)` records."""

    def __init__(self, metrics: FlowMetrics) -> None:
        super().__init__(logging.INFO)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("kafka lag ") and isinstance(record.args, tuple):
            partition, lag = record.args[0], record.args[1]
            if isinstance(partition, str) and isinstance(lag, int):
                self.metrics.set_kafka_lag(partition, lag)
