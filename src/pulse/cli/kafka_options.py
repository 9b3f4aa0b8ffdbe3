"""Kafka options of `pulse run` and `pulse produce`: broker, topics, start, security.

They live in their own argument group, so `pulse run` without `--kafka` behaves
exactly as before. SASL passwords come from `PULSE_KAFKA_SASL_PASSWORD`.
"""

from __future__ import annotations

import argparse

from pulse.cli.options import positive_int, seconds
from pulse.config import RunConfig
from pulse.connectors.kafka import log_to_stderr
from pulse.connectors.kafka.settings import PASSWORD_ENV, KafkaSettings
from pulse.errors import ConfigError

__all__ = [
    "add_connection_options",
    "add_run_options",
    "apply",
    "kafka_settings",
]


def add_connection_options(group: argparse._ArgumentGroup) -> None:
    """Bootstrap servers, security and connection timeout."""
    group.add_argument(
        "--kafka", metavar="BOOTSTRAP", help="Kafka bootstrap servers, host:port,..."
    )
    group.add_argument("--topic", help="input topic (for produce: the topic written)")
    group.add_argument(
        "--security-protocol", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
        help="default: inferred from the SASL and TLS options",
    )  # fmt: skip
    group.add_argument("--sasl-mechanism", choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    group.add_argument(
        "--sasl-username", help=f"SASL user; the password is read from {PASSWORD_ENV}"
    )
    group.add_argument("--ssl-cafile", help="CA bundle to verify the brokers (TLS)")
    group.add_argument("--ssl-certfile", help="client certificate (mutual TLS)")
    group.add_argument("--ssl-keyfile", help="client key (mutual TLS)")
    group.add_argument(
        "--connect-timeout", type=seconds(allow_zero=True), default=30.0, metavar="S",
        help="retry an unreachable broker with backoff this long before failing (default 30)",
    )  # fmt: skip


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Kafka input/output and recovery options of `pulse run`."""
    group = parser.add_argument_group("kafka (instead of -i: read events from a topic)")
    add_connection_options(group)
    group.add_argument("--output-topic", help="also send triggers to this topic (exactly once)")
    group.add_argument("--dead-letter-topic", help="also send dead letters to this topic")
    group.add_argument(
        "--start", default="earliest", metavar="WHERE",
        help="where partitions without a snapshot start: earliest (default), latest, or a time",
    )  # fmt: skip
    group.add_argument(
        "--to-end", action="store_true",
        help="stop once every partition has caught up with the topic's end (a replay)",
    )  # fmt: skip
    group.add_argument(
        "--recovery-dir", metavar="DIR",
        help="bytewax recovery directory (created if missing): resume after a crash",
    )  # fmt: skip
    group.add_argument(
        "--snapshot-interval", type=seconds(allow_zero=False), default=10.0, metavar="S",
        help="seconds between recovery snapshots (default 10)",
    )  # fmt: skip
    group.add_argument(
        "--lag-log-interval", type=seconds(allow_zero=False), default=10.0, metavar="S",
        help="seconds between consumer lag log lines per partition (default 10)",
    )  # fmt: skip
    group.add_argument(
        "--kafka-partition-groups", type=positive_int, default=1, metavar="N",
        help="source partitions the topic's partitions are dealt into, each merged in event "
        "time (default 1: one; set it to the workers of a cluster to spread the reading)",
    )  # fmt: skip


def kafka_settings(args: argparse.Namespace) -> KafkaSettings | None:
    """Settings from parsed options; `None` without `--kafka` (and then no Kafka option given)."""
    if not args.kafka:
        given = [
            f"`--{name.replace('_', '-')}`"
            for name in ("topic", "output_topic", "dead_letter_topic", "to_end")
            if getattr(args, name, None)
        ]
        if given:
            raise ConfigError(f"{', '.join(given)} needs `--kafka BOOTSTRAP`")
        return None
    if not args.topic:
        raise ConfigError("`--kafka` needs `--topic`")
    return KafkaSettings(
        bootstrap=args.kafka,
        topic=args.topic,
        output_topic=getattr(args, "output_topic", None),
        dead_letter_topic=getattr(args, "dead_letter_topic", None),
        start=getattr(args, "start", "earliest"),
        stop_at_end=getattr(args, "to_end", False),
        security_protocol=args.security_protocol,
        sasl_mechanism=args.sasl_mechanism,
        sasl_username=args.sasl_username,
        ssl_cafile=args.ssl_cafile,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        connect_timeout_s=args.connect_timeout,
        lag_log_interval_s=getattr(args, "lag_log_interval", 10.0),
        partition_groups=getattr(args, "kafka_partition_groups", 1),
    )


def apply(args: argparse.Namespace, config: RunConfig) -> None:
    """Put the Kafka and recovery options of `pulse run` into `config`."""
    config.kafka = kafka_settings(args)
    config.recovery_dir = args.recovery_dir
    config.snapshot_interval_s = args.snapshot_interval
    if config.kafka is not None:
        if config.inputs:
            raise ConfigError("give either `--kafka` or `-i`, not both")
        log_to_stderr()
