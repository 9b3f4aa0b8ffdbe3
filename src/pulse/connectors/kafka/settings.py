"""Kafka settings: where the broker is, which topics, how to start, how to authenticate.

`KafkaSettings` is plain data (picklable, no client inside); `client_options`
turns it into the keyword arguments every aiokafka client takes, so the
source, the sinks, `pulse produce` and the admin calls authenticate alike.
SASL passwords are read from the environment (`PULSE_KAFKA_SASL_PASSWORD`),
never from the command line, where `ps` would show them.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any

import msgspec

from pulse.config import KafkaSettings, SecurityProtocol, start_position
from pulse.errors import ConfigError

__all__ = [
    "PASSWORD_ENV",
    "KafkaSettings",
    "SecurityProtocol",
    "client_options",
    "settings_from_env",
    "start_position",
]

PASSWORD_ENV = "PULSE_KAFKA_SASL_PASSWORD"
"""Environment variable holding the SASL password."""


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments common to aiokafka's consumer, producer and admin client.

    >>> client_options(KafkaSettings(bootstrap="b:9092", sasl_mechanism="PLAIN",
    ...                              sasl_username="u", sasl_password="p"))["security_protocol"]
    'SASL_PLAINTEXT'
    """
    options: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.bootstrap.split(",") if s.strip()],
        "client_id": settings.client_id,
        "security_protocol": settings.protocol,
    }
    if settings.protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if settings.sasl_mechanism is not None:
        password = settings.sasl_password
        if password is None:
            password = os.environ.get(PASSWORD_ENV)
        if password is None:
            raise ConfigError(f"SASL needs a password: set `{PASSWORD_ENV}`")
        # aiokafka takes the SCRAM credentials under the PLAIN names too.
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=password,
        )
    return options


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=settings.ssl_cafile)
        if settings.ssl_certfile and settings.ssl_keyfile:
            context.load_cert_chain(settings.ssl_certfile, settings.ssl_keyfile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"Kafka TLS files could not be loaded: {exc}") from exc
    return context


def settings_from_env(environ: Mapping[str, str] | None = None) -> KafkaSettings | None:
    """Settings from `PULSE_KAFKA_*` variables; `None` when `PULSE_KAFKA_BOOTSTRAP` is unset.

    >>> settings_from_env({"PULSE_KAFKA_BOOTSTRAP": "b:9092", "PULSE_KAFKA_TOPIC": "in"}).topic
    'in'
    """
    env = os.environ if environ is None else environ
    bootstrap = env.get("PULSE_KAFKA_BOOTSTRAP")
    if not bootstrap:
        return None

    def text(name: str) -> str | None:
        return env.get(f"PULSE_KAFKA_{name}") or None

    try:
        return msgspec.convert(
            {
                "bootstrap": bootstrap,
                "topic": text("TOPIC") or "",
                "output_topic": text("OUTPUT_TOPIC"),
                "dead_letter_topic": text("DEAD_LETTER_TOPIC"),
                "start": text("START") or "earliest",
                "stop_at_end": (text("STOP_AT_END") or "0").lower() in ("1", "true", "yes"),
                "security_protocol": text("SECURITY_PROTOCOL"),
                "sasl_mechanism": text("SASL_MECHANISM"),
                "sasl_username": text("SASL_USERNAME"),
                "ssl_cafile": text("SSL_CAFILE"),
                "ssl_certfile": text("SSL_CERTFILE"),
                "ssl_keyfile": text("SSL_KEYFILE"),
                "connect_timeout_s": float(text("CONNECT_TIMEOUT_S") or 30.0),
                "lag_log_interval_s": float(text("LAG_LOG_INTERVAL_S") or 10.0),
                "partition_groups": int(text("PARTITION_GROUPS") or 1),
            },
            KafkaSettings,
        )
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"`PULSE_KAFKA_*` environment: {exc}") from exc
