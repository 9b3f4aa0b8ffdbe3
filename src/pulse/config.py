"""Run configuration: everything `pulse run` and the dataflow need, in one struct."""

from __future__ import annotations

import msgspec

from pulse.connectors.generator import GeneratorConfig
from pulse.connectors.kafka.settings import KafkaSettings
from pulse.state import DEFAULT_STATE_TTL_S

__all__ = ["RunConfig"]


class RunConfig(msgspec.Struct, kw_only=True):
    """Options of one run. `inputs` empty means the synthetic generator."""

    rules_path: str
    redis_url: str
    prefix: str = "pulse"
    inputs: list[str] = []
    generator: GeneratorConfig = msgspec.field(default_factory=GeneratorConfig)
    batch_size: int = 1000
    is_live: bool = False
    until_ms: int | None = None
    """In replay, the watermark at the end of input (fires timers due before it)."""
    show_console: bool = True
    triggers_path: str | None = None
    dead_letters_path: str | None = None
    state_ttl_s: int = DEFAULT_STATE_TTL_S
    reload_poll_s: float | None = None
    """Watch the rules file this often (0: on SIGHUP only) and hot-reload it; `None`: never."""
    kafka: KafkaSettings | None = None
    """Read events from Kafka (and write triggers / dead letters to it) instead of `inputs`."""
    recovery_dir: str | None = None
    """Bytewax recovery directory: snapshots of source offsets, to resume after a crash."""
    snapshot_interval_s: float = 10.0
    """How often the recovery snapshots are taken; a restart replays at most this much."""
