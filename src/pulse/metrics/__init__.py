"""Metrics and health: what a running flow did, for Prometheus, probes and the live views.

`FlowMetrics` watches the batch step (`pulse.flow.BatchObserver`): after each
committed batch it reads what exists, the batches (partitions, watermarks, dead
letters, late events), the engine's committed counters (`Engine.totals`), its last
commit time, the fired triggers, and turns them into Prometheus families on a
registry of its own. `serve` puts them on a small HTTP server on a thread:

    /metrics   the Prometheus text format
    /healthz   200 while the process is alive
    /readyz    200 when Redis answers a PING and, in live runs (`--live`, Kafka), a
               watermark moved within `ready_watermark_s`; else 503 saying why

With `--workers N` the parent serves its workers' metrics with a `worker` label
(`serve_workers`, `pulse.metrics.fanin`). Labels stay bounded: partitions and
trigger names come from the configuration, a dead letter's reason is reduced to a
fixed category (`reason_category`), never its text. The families are listed in the README
("Metrics and health").
"""

from __future__ import annotations

from pulse.metrics.collect import (
    DEFAULT_READY_WATERMARK_S,
    FlowMetrics,
    TriggerSeen,
    reason_category,
)
from pulse.metrics.serve import (
    METRICS_PORT_ENV,
    READY_WATERMARK_ENV,
    MetricsServer,
    Page,
    metrics_port_from_env,
    observed,
    ready_watermark_s_from_env,
    serve,
    serve_from_env,
    serve_workers,
)

__all__ = [
    "DEFAULT_READY_WATERMARK_S",
    "METRICS_PORT_ENV",
    "READY_WATERMARK_ENV",
    "FlowMetrics",
    "MetricsServer",
    "Page",
    "TriggerSeen",
    "metrics_port_from_env",
    "observed",
    "ready_watermark_s_from_env",
    "reason_category",
    "serve",
    "serve_from_env",
    "serve_workers",
]
