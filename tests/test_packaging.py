"""The Dockerfile and docker-compose.yml hold together (Docker itself cannot run here:
these checks parse them, as `docker compose config` would, and hold their commands
against the real `pulse` parser)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from pulse.cli import build_parser

ROOT = Path(__file__).parents[1]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_runs_redis_7_with_persistence_a_broker_and_pulse() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"redis", "kafka", "producer", "pulse"}
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert "--appendonly" in redis["command"] and "yes" in redis["command"]
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert services["kafka"]["image"].startswith(("redpandadata/redpanda", "apache/kafka"))
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    declared = set(compose["volumes"])
    for service in services.values():
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in declared


def test_compose_commands_are_valid_pulse_command_lines() -> None:
    services = _compose()["services"]
    pulse = services["pulse"]
    assert pulse["command"][0] == "run" and "--kafka" in pulse["command"]
    advertised = "kafka:9092"
    for name in ("pulse", "producer"):
        command = [str(part) for part in services[name]["command"]]
        # parse_args exits on an unknown flag or a bad value, as the container would.
        args = build_parser().parse_args(command)
        assert args.kafka == advertised, name
    assert pulse["environment"]["PULSE_REDIS_URL"] == "redis://redis:6379/0"


def test_compose_settings_variables_are_documented_settings() -> None:
    from pulse.settings import SETTINGS

    known = {s.env for s in SETTINGS} | {"PULSE_CONFIG"}
    for service in _compose()["services"].values():
        for variable in service.get("environment", {}):
            assert variable in known, variable


def test_dockerfile_installs_the_wheel_as_a_non_root_user_with_the_pulse_entrypoint() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"(?m)^FROM (\S+)", text) == ["python:3.11-slim", "python:3.11-slim"]
    assert "pip wheel" in text and "pip install --no-cache-dir /wheels/*.whl" in text
    assert "apt-get" not in text  # no Debian redis-server: compose provides Redis
    users = re.findall(r"(?m)^USER (\S+)", text)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'(?m)^ENTRYPOINT \["pulse"\]$', text)
    for source in re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", text):
        for path in source.split():
            assert (ROOT / path).exists(), path


def test_dockerignore_lets_through_what_the_dockerfile_copies() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    copied = re.findall(r"(?m)^COPY (?!--from)(.+) \S+$", (ROOT / "Dockerfile").read_text())
    for path in " ".join(copied).split():
        assert path.rstrip("/") in allowed, path
