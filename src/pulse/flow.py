"""The main pulse dataflow: clickstream in, state in Redis, triggers out.

    read_events -> process_batch -> split_dead_letters -> write_triggers / write_dead_letters

`build_flow` is the one place sources, the engine and sinks are put together;
`pulse run`, `pulse test` and the tests call it, and `dataflows/clickstream.py`
wires it for `python -m bytewax.run`. Each step id is the function it calls.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeGuard

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source

from pulse.batch import SourceBatch
from pulse.config import RunConfig
from pulse.connectors.files import JsonlSource
from pulse.connectors.formats import line_decoder
from pulse.connectors.generated import GeneratedSource
from pulse.connectors.kafka import DeadLetterSink, KafkaSource, TriggerRelaySink
from pulse.connectors.sinks import ConsoleSink, JsonlSink
from pulse.engine import Engine
from pulse.events import Rejected
from pulse.reload import RulesWatcher
from pulse.rules import Rules, load_rules
from pulse.state import ContactStore, connect, layout_for
from pulse.triggers import Trigger

__all__ = [
    "BatchHook",
    "BatchObserver",
    "EngineFactory",
    "build_flow",
    "build_source",
    "is_trigger",
]

BatchHook = Callable[[list[SourceBatch], Engine], None]


class BatchObserver(Protocol):
    """Watches the batch step (`pulse.metrics.FlowMetrics`); called from worker threads."""

    def observe(
        self,
        batches: list[SourceBatch],
        engine: Engine,
        out: list[Trigger | Rejected],
        seconds: float,
    ) -> None:
        """After each committed batch step: its input, engine, outputs, and the seconds
        from the batches' arrival in the step to their commit."""


class EngineFactory:
    """One `Engine` per worker thread, built on first use (Redis clients are per worker)."""

    def __init__(
        self,
        config: RunConfig,
        rules: Rules,
        on_batch: BatchHook | None,
        watcher: RulesWatcher | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        self._config = config
        self._rules = rules
        self._on_batch = on_batch
        self._watcher = watcher
        self._observer = observer
        self._local = threading.local()
        self.engines: list[Engine] = []

    def engine(self) -> Engine:
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            _tune_gc()
            client = connect(self._config.redis_url)
            store = ContactStore(
                client, layout_for(client, self._config.prefix), self._config.state_ttl_s
            )
            engine = self._local.engine = Engine(self._rules, store, part=self._config.part)
            self.engines.append(engine)
        return engine

    def close(self) -> None:
        """Release what the engines hold in Redis (the trainer lease) after a clean stop."""
        for engine in self.engines:
            engine.close()

    def process_batch(self, batches: list[SourceBatch]) -> list[Trigger | Rejected]:
        arrived_s = time.perf_counter()
        engine = self.engine()
        if self._watcher is not None:
            engine.swap_rules(self._watcher.poll())  # between batches: one version per batch
        out = engine.process(batches)
        if self._on_batch is not None:
            self._on_batch(batches, engine)
        if self._observer is not None:
            self._observer.observe(batches, engine, out, time.perf_counter() - arrived_s)
        return out


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path of a long-running flow.

    Every batch allocates many short-lived containers (decoded states, events), so
    the default thresholds run collections constantly over a heap that is mostly
    long-lived. Freezing what exists at start and collecting less often measured
    +14-16% replay throughput (bench/replay.py --gc-threshold) and halves the
    cost of decoding a contact's state.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def build_source(config: RunConfig, rules: Rules) -> Source[SourceBatch]:
    """The configured input: Kafka, JSON Lines files / stdin, or the generator."""
    if config.kafka is not None:
        return KafkaSource(
            config.kafka,
            line_decoder(config.input_format, rules.event_types),
            rules.allowed_lateness_ms,
            batch_size=config.batch_size,
            final_watermark_ms=config.until_ms,
        )
    if config.inputs:
        return JsonlSource(
            config.inputs,
            line_decoder(config.input_format, rules.event_types),
            rules.allowed_lateness_ms,
            batch_size=config.batch_size,
            is_live=config.is_live,
            final_watermark_ms=config.until_ms,
            part=config.part,
        )
    return GeneratedSource(
        config.generator,
        rules.allowed_lateness_ms,
        batch_size=config.batch_size,
        final_watermark_ms=config.until_ms,
        part=config.part,
    )


def is_trigger(item: Trigger | Rejected) -> TypeGuard[Trigger]:
    """Whether an output of the batch step is a trigger (else it is a dead letter)."""
    return isinstance(item, Trigger)


def build_flow(
    config: RunConfig,
    rules: Rules | None = None,
    on_batch: BatchHook | None = None,
    observer: BatchObserver | None = None,
) -> tuple[Dataflow, EngineFactory]:
    """The dataflow for `config`, and the factory holding its per-worker engines."""
    rules = rules or load_rules(config.rules_path)
    watcher = None
    if config.reload_poll_s is not None:
        watcher = RulesWatcher(config.rules_path, rules, poll_s=config.reload_poll_s)
        watcher.install_sighup()
    factory = EngineFactory(config, rules, on_batch, watcher, observer)
    flow = Dataflow("pulse")
    batches = op.input("read_events", flow, build_source(config, rules))
    outputs = op.flat_map_batch("process_batch", batches, factory.process_batch)
    split = op.branch("split_dead_letters", outputs, is_trigger)
    if config.show_console:
        op.output("write_console", split.trues, ConsoleSink())
    if config.triggers_path:
        op.output("write_triggers", split.trues, JsonlSink(config.triggers_path))
    # Dead letters are never dropped: to their file, or else to standard error.
    if config.dead_letters_path:
        op.output("write_dead_letters", split.falses, JsonlSink(config.dead_letters_path))
    else:
        op.output("write_dead_letters", split.falses, ConsoleSink(sys.stderr))
    kafka = config.kafka
    if kafka is not None and kafka.output_topic:
        # The relay reads the triggers from the Redis stream; the items only wake it.
        # Keyed by contact: on a Redis Cluster each key group's stream has a relay of its own.
        keyed = op.map("key_for_relay", split.trues, lambda t: (t.contact_id, t.trigger_id))
        relay = TriggerRelaySink(kafka, config.redis_url, config.prefix)
        op.output("relay_triggers", keyed, relay)
    if kafka is not None and kafka.dead_letter_topic:
        op.output("write_kafka_dead_letters", split.falses, DeadLetterSink(kafka))
    return flow, factory
