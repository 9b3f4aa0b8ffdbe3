"""Metrics of `--workers N`: the parent serves what every worker process serves, labelled.

Each worker process is a whole pulse flow with its own `FlowMetrics`, served on a
loopback port the parent chose for it. The parent serves `/metrics`, `/healthz`
and `/readyz` on the run's `--metrics-port`: at each scrape it reads every
worker's `/metrics` and re-exposes every sample with a `worker` label (`0`..`N-1`),
so one scrape target shows the whole run and a sum over `worker` gives its totals;
it is ready when every worker is. A worker that does not answer is reported, not
hidden: `pulse_worker_up{worker}` is 0 and `/readyz` names it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector, CollectorRegistry

__all__ = ["WorkersMetrics"]

_TIMEOUT_S = 2.0
"""How long a scrape waits for one worker: a stuck worker must not stall the scrape."""


class WorkersMetrics:
    """The parent's view of its workers' metrics, for `pulse.metrics.serve`."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_FanIn(self))

    def scrape(self, index: int, path: str) -> tuple[int, str] | None:
        """Status and body of `path` on worker `index`, or `None` when it does not answer."""
        url = f"http://127.0.0.1:{self.ports[index]}{path}"
        try:
            with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as reply:
                return int(reply.status), reply.read().decode()
        except urllib.error.HTTPError as exc:  # 503 from /readyz: an answer
            body = exc.read().decode()
            exc.close()
            return int(exc.code), body
        except (OSError, ValueError):
            return None

    def readiness(self) -> list[str]:
        """Why the run is not ready (each worker's reasons, prefixed), or nothing."""
        problems: list[str] = []
        for index in range(len(self.ports)):
            reply = self.scrape(index, "/readyz")
            if reply is None:
                problems.append(f"worker {index}: not answering")
            elif reply[0] != 200:
                problems += [f"worker {index}: {line}" for line in reply[1].splitlines() if line]
        return problems


class _FanIn(Collector):
    def __init__(self, workers: WorkersMetrics) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "pulse_worker_up", "Whether the worker process answered this scrape.", labels=["worker"]
        )
        merged: dict[str, Metric] = {}
        for index in range(len(self._workers.ports)):
            reply = self._workers.scrape(index, "/metrics")
            up.add_metric([str(index)], 0.0 if reply is None or reply[0] != 200 else 1.0)
            if reply is not None and reply[0] == 200:
                _label(text_string_to_metric_families(reply[1]), str(index), merged)
        yield up
        yield from merged.values()


def _label(families: Iterable[Metric], worker: str, merged: dict[str, Metric]) -> None:
    """Add `families`' samples to `merged` (one family per name), labelled `worker`."""
    for family in families:
        out = merged.get(family.name)
        if out is None:
            out = merged[family.name] = Metric(family.name, family.documentation, family.type)
        for sample in family.samples:
            labels = {**sample.labels, "worker": worker}
            out.add_sample(sample.name, labels, sample.value, sample.timestamp, sample.exemplar)
