"""Kafka in and out with aiokafka: partition-parallel, restart-safe, no trigger lost.

Read in this order: `settings` (what a run needs to know about the broker),
`source` (one bytewax partition per Kafka partition, offsets and watermark in
the snapshot), `relay` (triggers from the Redis stream to the output topic,
exactly once across crashes), `sinks` (dead letters), `loop` (the one event
loop thread that runs every aiokafka client), `client` (clients started with
backoff, errors translated), `faults` (failpoints for the crash tests).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pulse.connectors.kafka.relay import TriggerRelay, TriggerRelaySink
from pulse.connectors.kafka.settings import KafkaSettings, settings_from_env
from pulse.connectors.kafka.sinks import DeadLetterSink
from pulse.connectors.kafka.source import KafkaResume, KafkaSource

__all__ = [
    "DeadLetterSink",
    "KafkaResume",
    "KafkaSettings",
    "KafkaSource",
    "TriggerRelay",
    "TriggerRelaySink",
    "log_to_stderr",
    "settings_from_env",
]


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record is emitted, not when created.

    A flow built in-process (tests, notebooks) may outlive the stderr it started with.
    """

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def log_to_stderr() -> None:
    """Show the `pulse.kafka` log (consumer lag, relay progress, retries) on standard error."""
    log = logging.getLogger("pulse.kafka")
    if any(isinstance(h, logging.StreamHandler) for h in log.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s pulse.kafka: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
