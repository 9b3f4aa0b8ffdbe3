"""Run configuration: everything `pulse run` and the dataflow need, as plain data.

`RunConfig` holds one run's options; the settings of the generator and of Kafka are
defined here too, beside it, so that this module imports no connector and no Redis
client (the layers in the README): connectors read their settings from here.
"""

from __future__ import annotations

import zlib
from typing import Literal

import msgspec

from pulse.errors import ConfigError, EventError
from pulse.events import parse_ts

__all__ = [
    "DEFAULT_STATE_TTL_S",
    "GeneratorConfig",
    "KafkaSettings",
    "Part",
    "RunConfig",
    "SaslMechanism",
    "SecurityProtocol",
    "start_position",
]

DEFAULT_STATE_TTL_S = 400 * 86_400
"""Idle contacts expire after this long (wall time): longer than `lost_customer` + a return."""

_DAY_MS = 86_400_000


class GeneratorConfig(msgspec.Struct, frozen=True):
    """What to generate; the same config always gives the same bytes."""

    contacts: int = 2_000
    events: int = 50_000
    """Exact number of events generated."""
    start_ms: int = 1_767_225_600_000
    """Earliest event time, epoch ms (default 2026-01-01T00:00:00Z)."""
    span_days: float = 120.0
    seed: int = 7
    skew: float = 1.2
    """Zipf-like exponent of per-contact activity; 0 gives every contact the same budget."""
    anonymous_share: float = 0.15
    """Share of contacts that never identify and carry only an `anonymous_id`."""
    rate_per_s: float = 0.0
    """When positive, dense traffic instead of journeys: this many events per second of
    event time, contacts drawn from a Zipf law (see `pulse.connectors.traffic`)."""
    hot_share: float = 0.14
    """With `rate_per_s`: the share of all events sent by the busiest contact."""
    planted_lift: float = 0.0
    """A known effect of the cart reminder, for checking measured lift: abandoners that
    pulse holds out of `planted_experiment` (share `planted_holdout`, the same stable hash)
    come back and buy with this much lower probability than the others (45 %). 0 plants
    nothing and leaves the stream as it always was."""
    planted_holdout: float = 0.1
    """The holdout share of `planted_experiment` in the rules pulse runs with."""
    planted_experiment: str = "abandon_cart"
    """The trigger (experiment) whose holdout carries the planted effect."""

    def __post_init__(self) -> None:
        problems = []
        if self.contacts < 1:
            problems.append(f"contacts must be at least 1, got {self.contacts}")
        if self.events < 0:
            problems.append(f"events must not be negative, got {self.events}")
        if not self.span_days > 0:
            problems.append(f"span_days must be positive, got {self.span_days}")
        if not self.skew >= 0:
            problems.append(f"skew must not be negative, got {self.skew}")
        if not self.rate_per_s >= 0:
            problems.append(f"rate_per_s must not be negative, got {self.rate_per_s}")
        if not 0 < self.hot_share < 1:
            problems.append(f"hot_share must be in 0..1 (exclusive), got {self.hot_share}")
        if not 0 <= self.planted_lift <= 0.45:
            problems.append(f"planted_lift must be in 0..0.45, got {self.planted_lift}")
        if not 0 <= self.planted_holdout < 1:
            problems.append(f"planted_holdout must be in 0..1, got {self.planted_holdout}")
        if not 0 <= self.anonymous_share <= 1:
            problems.append(f"anonymous_share must be in 0..1, got {self.anonymous_share}")
        # Outside these the decoder rejects the timestamps as seconds or garbage.
        if not 946_684_800_000 <= self.start_ms <= self.end_ms < 4_102_444_800_000:
            problems.append("start_ms .. start_ms + span_days must lie in 2000..2100")
        if problems:
            raise ConfigError("generator: " + "; ".join(problems))

    @property
    def end_ms(self) -> int:
        """First millisecond after the span: every event has `start_ms <= ts < end_ms`."""
        return self.start_ms + max(1, int(self.span_days * _DAY_MS))


class Part(msgspec.Struct, frozen=True):
    """One worker process's share of the input: the contacts whose key hashes to `index`.

    Every worker process reads the whole input and keeps the events of its part
    (`pulse run --workers N`). The hash is CRC-32 of the contact key, stable across
    processes and runs (Python's `hash` of a string is salted per process).

    >>> part = Part(0, 2)
    >>> part.name, part.owns("c1"), Part(1, 2).owns("c1")
    ('0-of-2', False, True)
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ConfigError(f"part: expected 0 <= index < count, got {self.index}/{self.count}")

    @property
    def name(self) -> str:
        """`<index>-of-<count>`: the suffix of the part's source partition and streams."""
        return f"{self.index}-of-{self.count}"

    def owns(self, key: str) -> bool:
        """Whether the contact `key` belongs to this part."""
        return zlib.crc32(key.encode()) % self.count == self.index

    def owner(self, key: str) -> Part:
        """The part the contact `key` belongs to (this one or a sibling).

        >>> Part(0, 2).owner("c1")
        Part(index=1, count=2)
        """
        return Part(zlib.crc32(key.encode()) % self.count, self.count)

    def partition_of(self, key: str, partition: str) -> str:
        """The source partition of the part `key` belongs to, given this part's `partition`.

        >>> Part(0, 2).partition_of("c1", "files/0-of-2")
        'files/1-of-2'
        """
        base, _, name = partition.rpartition("/")
        if name != self.name:
            raise ConfigError(f"partition `{partition}` is not one of part {self.name}")
        return f"{base}/{self.owner(key).name}"

    @staticmethod
    def parse(text: str) -> Part:
        """A part from `index/count`, as `--part` gives it.

        >>> Part.parse("1/4")
        Part(index=1, count=4)
        """
        index, _, count = text.partition("/")
        try:
            return Part(int(index), int(count))
        except ValueError:
            raise ConfigError(f"part: expected `index/count`, got `{text}`") from None


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Broker, topics and client options of one run (or one `pulse produce`)."""

    bootstrap: str
    """Comma-separated `host:port` list."""
    topic: str = ""
    """Input topic, read in `partition_groups` groups of its partitions."""
    output_topic: str | None = None
    """Triggers, keyed by contact, relayed from the Redis stream (see `pulse.connectors.kafka`)."""
    dead_letter_topic: str | None = None
    """Rejected input, keyed by source partition."""
    start: str = "earliest"
    """Where a partition without a snapshot starts: `earliest`, `latest`, or a time."""
    stop_at_end: bool = False
    """Stop once every partition has caught up with the end of the topic (replays, tests)."""
    security_protocol: SecurityProtocol | None = None
    """Default: inferred, `SASL_*` when a mechanism is set, `*SSL` when a CA file is."""
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    connect_timeout_s: float = 30.0
    """How long to retry, with backoff, before a broker counts as unreachable."""
    lag_log_interval_s: float = 10.0
    """How often each source partition logs its consumer lag."""
    partition_groups: int = 1
    """Source partitions the topic's partitions are dealt into (round robin): each group
    merges its partitions in event time; more groups spread them over a cluster's workers."""
    client_id: str = "pulse"

    def __post_init__(self) -> None:
        problems = []
        if not self.bootstrap.strip():
            problems.append("`bootstrap` is empty: give `host:port`")
        if self.partition_groups < 1:
            problems.append(f"`partition_groups` must be 1 or more, got {self.partition_groups}")
        if self.start not in ("earliest", "latest"):
            try:
                parse_ts(_as_ts(self.start))
            except EventError as exc:
                problems.append(
                    f"`start` must be `earliest`, `latest` or a time, got `{self.start}`: {exc}"
                )
        if self.sasl_mechanism is not None and not self.sasl_username:
            problems.append(f"SASL `{self.sasl_mechanism}` needs a username")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            problems.append("a TLS client certificate needs both `ssl_certfile` and `ssl_keyfile`")
        if self.connect_timeout_s <= 0:
            problems.append(f"`connect_timeout_s` must be positive, got {self.connect_timeout_s}")
        if problems:
            raise ConfigError("Kafka settings: " + "; ".join(problems))

    @property
    def protocol(self) -> SecurityProtocol:
        """The security protocol in force (explicit, or inferred from the options)."""
        if self.security_protocol is not None:
            return self.security_protocol
        is_tls = bool(self.ssl_cafile or self.ssl_certfile)
        if self.sasl_mechanism is not None:
            return "SASL_SSL" if is_tls else "SASL_PLAINTEXT"
        return "SSL" if is_tls else "PLAINTEXT"


def _as_ts(text: str) -> str | int:
    return int(text) if text.isdigit() else text


def start_position(settings: KafkaSettings) -> Literal["earliest", "latest"] | int:
    """`earliest`, `latest`, or the start time in epoch milliseconds.

    >>> start_position(KafkaSettings(bootstrap="b:9092", start="2026-01-05T10:00:00Z"))
    1767607200000
    """
    if settings.start in ("earliest", "latest"):
        return settings.start  # type: ignore[return-value]  # narrowed by the test above
    return parse_ts(_as_ts(settings.start))


class RunConfig(msgspec.Struct, kw_only=True):
    """Options of one run. `inputs` empty means the synthetic generator."""

    rules_path: str
    redis_url: str
    redis_retry_s: float | None = None
    """How long an unreachable Redis is retried before the run stops; `None`: the default
    (`PULSE_REDIS_RETRY_S`, else 60 s)."""
    prefix: str = "pulse"
    inputs: list[str] = []
    input_format: str = "auto"
    """Layout of the input lines (`pulse.connectors.formats.FORMATS`): `auto` detects
    pulse, Segment, GA4 or Snowplow per line."""
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
    part: Part | None = None
    """This process's share of the input when several worker processes run (`--workers`);
    `None`: all of it."""
