"""Kafka settings: validation, security options passed through to aiokafka, environment."""

from __future__ import annotations

import pytest

from pulse.connectors.kafka.settings import (
    PASSWORD_ENV,
    KafkaSettings,
    client_options,
    settings_from_env,
    start_position,
)
from pulse.errors import ConfigError


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        KafkaSettings(
            bootstrap=" ", start="yesterday", sasl_mechanism="PLAIN", ssl_certfile="c.pem"
        )
    message = str(caught.value)
    assert "`bootstrap` is empty" in message
    assert "`start` must be `earliest`, `latest` or a time, got `yesterday`" in message
    assert "SASL `PLAIN` needs a username" in message
    assert "needs both `ssl_certfile` and `ssl_keyfile`" in message


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("earliest", "earliest"),
        ("latest", "latest"),
        ("2026-01-05T10:00:00Z", 1767607200000),
        ("1767607200000", 1767607200000),
    ],
)
def test_start_is_earliest_latest_or_a_time(start: str, expected: object) -> None:
    assert start_position(KafkaSettings(bootstrap="b:9092", start=start)) == expected


def test_plaintext_by_default_with_every_bootstrap_server() -> None:
    options = client_options(KafkaSettings(bootstrap="a:9092, b:9092", client_id="me"))
    assert options == {
        "bootstrap_servers": ["a:9092", "b:9092"],
        "client_id": "me",
        "security_protocol": "PLAINTEXT",
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_mechanisms_pass_through_with_the_password_from_the_environment(
    mechanism: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    settings = KafkaSettings(
        bootstrap="b:9092",
        sasl_mechanism=mechanism,  # type: ignore[arg-type]
        sasl_username="pulse",
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "pulse"
    assert options["sasl_plain_password"] == "s3cret"


def test_sasl_without_a_password_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    settings = KafkaSettings(bootstrap="b:9092", sasl_mechanism="PLAIN", sasl_username="u")
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        client_options(settings)


def test_tls_with_sasl_is_sasl_ssl_and_unreadable_files_are_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "p")
    settings = KafkaSettings(
        bootstrap="b:9093",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        ssl_cafile="/nonexistent/ca.pem",
    )
    assert settings.protocol == "SASL_SSL"
    with pytest.raises(ConfigError, match="TLS files could not be loaded"):
        client_options(settings)


def test_tls_with_the_system_trust_store_builds_a_context() -> None:
    settings = KafkaSettings(bootstrap="b:9093", security_protocol="SSL")
    options = client_options(settings)
    assert options["security_protocol"] == "SSL"
    assert options["ssl_context"].check_hostname


def test_environment_configures_a_kafka_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "p")
    settings = settings_from_env(
        {
            "PULSE_KAFKA_BOOTSTRAP": "b:9092",
            "PULSE_KAFKA_TOPIC": "events",
            "PULSE_KAFKA_OUTPUT_TOPIC": "triggers",
            "PULSE_KAFKA_DEAD_LETTER_TOPIC": "dead",
            "PULSE_KAFKA_START": "latest",
            "PULSE_KAFKA_STOP_AT_END": "1",
            "PULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
            "PULSE_KAFKA_SASL_USERNAME": "u",
            "PULSE_KAFKA_PARTITION_GROUPS": "3",
        }
    )
    assert settings is not None
    assert settings.partition_groups == 3
    assert (settings.topic, settings.output_topic, settings.dead_letter_topic) == (
        "events",
        "triggers",
        "dead",
    )
    assert settings.start == "latest"
    assert settings.stop_at_end
    assert client_options(settings)["sasl_plain_password"] == "p"
    assert settings_from_env({}) is None


def test_partition_groups_below_one_are_refused() -> None:
    with pytest.raises(ConfigError, match="partition_groups"):
        settings_from_env({"PULSE_KAFKA_BOOTSTRAP": "b:9092", "PULSE_KAFKA_PARTITION_GROUPS": "0"})


def test_bad_environment_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sasl_mechanism"):
        settings_from_env({"PULSE_KAFKA_BOOTSTRAP": "b:9092", "PULSE_KAFKA_SASL_MECHANISM": "MD5"})
