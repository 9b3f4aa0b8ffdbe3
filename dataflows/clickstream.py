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
from pulse.errors import ConfigError
from pulse.flow import build_flow
from pulse.logs import configure_logging
from pulse.metrics import serve_from_env
from pulse.settings import resolve_values
from pulse.times import parse_time

__all__ = ["build_flow", "build_flow_from_env"]


def build_flow_from_env() -> Dataflow:
    """Entry point for `python -m bytewax.run`: configured by `PULSE_*` variables, else the
    `PULSE_CONFIG` file (the README's Settings table; `PULSE_INPUT` lists input files)."""
    values, _ = resolve_values("flow", {}, os.environ, None)
    configure_logging(values["log_level"], values["log_format"])
    until = values["until"]
    config = RunConfig(
        rules_path=values["rules"],
        redis_url=values["redis_url"] or "redis://127.0.0.1:6379/0",
        redis_retry_s=values["redis_retry_s"],
        inputs=[p for p in os.environ.get("PULSE_INPUT", "").split(",") if p],
        input_format=values["input_format"],
        triggers_path=values["triggers"],
        dead_letters_path=values["dead_letters"] or None,
        prefix=values["prefix"],
        batch_size=values["batch_size"],
        until_ms=_until_ms(until) if until else None,
        kafka=kafka_settings_from_env(),
        reload_poll_s=values["reload_poll"],
    )
    if config.kafka is not None:
        log_to_stderr()  # consumer lag per partition, relay progress
    # `PULSE_METRICS_PORT`: metrics and health served for the process's life.
    flow, _ = build_flow(config, observer=serve_from_env(config))
    return flow


def _until_ms(text: str) -> int:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise ConfigError(f"`PULSE_UNTIL`: {exc} (here: an absolute time)") from None
