"""The main pulse dataflow: clickstream in, state in Redis, triggers out.

    read_events -> process_batch -> split_dead_letters -> write_triggers / write_dead_letters

Run it with `pulse run` (see the README), or with bytewax directly:
`python -m bytewax.run "dataflows.clickstream:build_flow_from_env()"`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import Source

from pulse.config import RunConfig
from pulse.connectors.files import JsonlSource
from pulse.connectors.generated import GeneratedSource
from pulse.connectors.sinks import ConsoleSink, JsonlSink
from pulse.engine import Engine, SourceBatch
from pulse.events import EventDecoder, Rejected
from pulse.rules import Rules, default_rules_path, load_rules
from pulse.state import ContactStore, KeyLayout, connect
from pulse.triggers import Trigger

BatchHook = Callable[[list[SourceBatch], Engine], None]


class EngineFactory:
    """One `Engine` per worker thread, built on first use (Redis clients are per worker)."""

    def __init__(self, config: RunConfig, rules: Rules, on_batch: BatchHook | None) -> None:
        self._config = config
        self._rules = rules
        self._on_batch = on_batch
        self._local = threading.local()
        self.engines: list[Engine] = []

    def engine(self) -> Engine:
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            store = ContactStore(
                connect(self._config.redis_url),
                KeyLayout(self._config.prefix),
                self._config.state_ttl_s,
            )
            engine = self._local.engine = Engine(self._rules, store)
            self.engines.append(engine)
        return engine

    def process_batch(self, batches: list[SourceBatch]) -> list[Trigger | Rejected]:
        engine = self.engine()
        out = engine.process(batches)
        if self._on_batch is not None:
            self._on_batch(batches, engine)
        return out


def build_source(config: RunConfig, rules: Rules) -> Source[SourceBatch]:
    """The configured input: JSON Lines files / stdin, or the generator."""
    if config.inputs:
        return JsonlSource(
            config.inputs,
            EventDecoder(rules.event_types),
            rules.allowed_lateness_ms,
            batch_size=config.batch_size,
            is_live=config.is_live,
            final_watermark_ms=config.until_ms,
        )
    return GeneratedSource(
        config.generator,
        rules.allowed_lateness_ms,
        batch_size=config.batch_size,
        final_watermark_ms=config.until_ms,
    )


def build_flow(
    config: RunConfig, rules: Rules | None = None, on_batch: BatchHook | None = None
) -> tuple[Dataflow, EngineFactory]:
    """The dataflow for `config`, and the factory holding its per-worker engines."""
    rules = rules or load_rules(config.rules_path)
    factory = EngineFactory(config, rules, on_batch)
    flow = Dataflow("pulse")
    batches = op.input("read_events", flow, build_source(config, rules))
    outputs = op.flat_map_batch("process_batch", batches, factory.process_batch)
    split = op.branch("split_dead_letters", outputs, lambda item: isinstance(item, Trigger))
    if config.show_console:
        op.output("write_console", split.trues, ConsoleSink())
    if config.triggers_path:
        op.output("write_triggers", split.trues, JsonlSink(config.triggers_path))
    # Dead letters are never dropped: to their file, or else to standard error.
    if config.dead_letters_path:
        op.output("write_dead_letters", split.falses, JsonlSink(config.dead_letters_path))
    else:
        op.output("write_dead_letters", split.falses, ConsoleSink(sys.stderr))
    return flow, factory


def build_flow_from_env() -> Dataflow:
    """Entry point for `python -m bytewax.run`: configured by `PULSE_*` variables."""
    config = RunConfig(
        rules_path=os.environ.get("PULSE_RULES", str(default_rules_path())),
        redis_url=os.environ.get("PULSE_REDIS_URL", "redis://127.0.0.1:6379/0"),
        inputs=[p for p in os.environ.get("PULSE_INPUT", "").split(",") if p],
        triggers_path=os.environ.get("PULSE_TRIGGERS"),
        dead_letters_path=os.environ.get("PULSE_DEAD_LETTERS", "out/dead_letters.jsonl"),
    )
    flow, _ = build_flow(config)
    return flow
