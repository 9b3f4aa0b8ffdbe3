"""The pulse dataflow for `python -m bytewax.run`, configured by `PULSE_*` variables.

    python -m bytewax.run "dataflows.clickstream:build_flow_from_env()"

Wiring only: the flow itself is `pulse.flow.build_flow` (the one `pulse run` runs).
"""

from __future__ import annotations

import os

from bytewax.dataflow import Dataflow

from pulse.config import RunConfig
from pulse.connectors.kafka import log_to_stderr
from pulse.connectors.kafka import settings_from_env as kafka_settings_from_env
from pulse.events import parse_ts
from pulse.flow import build_flow
from pulse.metrics import serve_from_env
from pulse.rules import default_rules_path

__all__ = ["build_flow", "build_flow_from_env"]


def build_flow_from_env() -> Dataflow:
    """Entry point for `python -m bytewax.run`: configured by `PULSE_*` variables."""
    config = RunConfig(
        rules_path=os.environ.get("PULSE_RULES", str(default_rules_path())),
        redis_url=os.environ.get("PULSE_REDIS_URL", "redis://127.0.0.1:6379/0"),
        inputs=[p for p in os.environ.get("PULSE_INPUT", "").split(",") if p],
        triggers_path=os.environ.get("PULSE_TRIGGERS"),
        dead_letters_path=os.environ.get("PULSE_DEAD_LETTERS", "out/dead_letters.jsonl"),
        prefix=os.environ.get("PULSE_PREFIX", "pulse"),
        until_ms=parse_ts(os.environ["PULSE_UNTIL"]) if os.environ.get("PULSE_UNTIL") else None,
        kafka=kafka_settings_from_env(),
        reload_poll_s=float(os.environ.get("PULSE_RELOAD_POLL_S", "1")),
    )
    if config.kafka is not None:
        log_to_stderr()  # consumer lag per partition, relay progress
    # `PULSE_METRICS_PORT`: metrics and health served for the process's life.
    flow, _ = build_flow(config, observer=serve_from_env(config))
    return flow
