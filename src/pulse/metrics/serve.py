"""The HTTP side of `pulse.metrics`: `/metrics`, `/healthz`, `/readyz` on a thread."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from pulse.config import RunConfig
from pulse.errors import ConfigError
from pulse.metrics.collect import DEFAULT_READY_WATERMARK_S, FlowMetrics
from pulse.metrics.fanin import WorkersMetrics

__all__ = [
    "METRICS_PORT_ENV",
    "READY_WATERMARK_ENV",
    "MetricsServer",
    "Page",
    "metrics_port_from_env",
    "observed",
    "ready_watermark_s_from_env",
    "serve",
    "serve_from_env",
    "serve_workers",
]

log = logging.getLogger("pulse.metrics")

METRICS_PORT_ENV = "PULSE_METRICS_PORT"
"""Serve metrics and health on this port when `--metrics-port` is not given."""
READY_WATERMARK_ENV = "PULSE_READY_WATERMARK_S"
"""A live run is ready while a watermark moved within this many seconds (default 60)."""


def metrics_port_from_env() -> int | None:
    """`PULSE_METRICS_PORT` as a port number, or `None` when unset or empty."""
    raw = os.environ.get(METRICS_PORT_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ConfigError(f"`{METRICS_PORT_ENV}`: expected a port number 0..65535, got `{raw}`")
    return int(raw)


def ready_watermark_s_from_env() -> float:
    """`PULSE_READY_WATERMARK_S` in seconds (default 60)."""
    raw = os.environ.get(READY_WATERMARK_ENV, "").strip()
    if not raw:
        return DEFAULT_READY_WATERMARK_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"`{READY_WATERMARK_ENV}`: expected seconds > 0, got `{raw}`")
    return value


Page = Callable[[FlowMetrics], tuple[int, str, bytes]]
"""An extra page of the server (the dashboard): status, content type and body."""


class MetricsServer:
    """The HTTP server of `serve`, running on a daemon thread until `close`."""

    def __init__(
        self, metrics: FlowMetrics | WorkersMetrics, port: int, pages: dict[str, Page]
    ) -> None:
        self.metrics = metrics
        handler = type("Handler", (_Handler,), {"metrics": metrics, "pages": pages})
        try:
            self._server = ThreadingHTTPServer(("0.0.0.0", port), handler)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on port {port}: {exc.strerror}") from exc
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="pulse-metrics", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(metrics: FlowMetrics, port: int, pages: dict[str, Page] | None = None) -> MetricsServer:
    """Serve `/metrics`, `/healthz`, `/readyz` (and `pages`) on `port` (0: any free port)."""
    server = MetricsServer(metrics, port, pages or {})
    log.info("serving metrics and health on port %d", server.port)
    return server


def serve_workers(ports: list[int], port: int) -> MetricsServer:
    """Serve, on `port`, the metrics and readiness of the worker processes serving on `ports`
    (`--workers N`: see `pulse.metrics.fanin`)."""
    server = MetricsServer(WorkersMetrics(ports), port, {})
    log.info("serving the metrics of %d worker processes on port %d", len(ports), server.port)
    return server


class _Handler(BaseHTTPRequestHandler):
    metrics: FlowMetrics | WorkersMetrics
    pages: dict[str, Page]
    server_version = "pulse"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        metrics = self.metrics
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
        elif path == "/healthz":
            self._send(200, "text/plain; charset=utf-8", b"ok\n")
        elif path == "/readyz":
            problems = metrics.readiness()
            body = ("\n".join(problems) if problems else "ready") + "\n"
            self._send(503 if problems else 200, "text/plain; charset=utf-8", body.encode())
        elif path in self.pages and isinstance(metrics, FlowMetrics):
            self._send(*self.pages[path](metrics))
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not news: say nothing per request."""


@contextlib.contextmanager
def observed(
    config: RunConfig,
    port: int | None,
    ready_watermark_s: float = DEFAULT_READY_WATERMARK_S,
    pages: dict[str, Page] | None = None,
) -> Iterator[FlowMetrics]:
    """Metrics for one run of `config`: probed while the block runs, served when `port` is set
    (with `pages`, whose address is printed on standard error).

    The probe and the server stop when the block ends (before a private Redis does).
    """
    metrics = _metrics_for(config, ready_watermark_s)
    server = serve(metrics, port, pages) if port is not None else None
    if server is not None and pages:
        print(f"pulse: live page at http://127.0.0.1:{server.port}/", file=sys.stderr, flush=True)
    metrics.start_probe()
    try:
        yield metrics
    finally:
        metrics.stop_probe()
        if server is not None:
            server.close()


def serve_from_env(config: RunConfig) -> FlowMetrics | None:
    """For `python -m bytewax.run`: metrics served on `PULSE_METRICS_PORT` for the process's
    life, or `None` when the variable is unset."""
    port = metrics_port_from_env()
    if port is None:
        return None
    metrics = _metrics_for(config, ready_watermark_s_from_env())
    serve(metrics, port)
    metrics.start_probe()
    return metrics


def _metrics_for(config: RunConfig, ready_watermark_s: float) -> FlowMetrics:
    metrics = FlowMetrics(
        redis_url=config.redis_url,
        prefix=config.prefix,
        is_live=config.is_live or config.kafka is not None,
        ready_watermark_s=ready_watermark_s,
    )
    if config.kafka is not None:
        metrics.watch_kafka_lag()
    return metrics
