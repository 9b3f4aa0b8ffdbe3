"""Fixtures for the micro-benchmarks: a real redis-server, the default rules, realistic data.

Run with `pytest bench/micro` (the repository's plain `pytest` collects only
`tests/` and `src/`). `--benchmark-disable` runs each benchmark once, untimed:
that is what `make bench-smoke` does to check they still work.

Every benchmark records in `extra_info["items"]` how many items (events,
contacts, evaluations) one call handles, so `bench/report.py` can show the
cost per item.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice

import pytest

from pulse.connectors.generator import GeneratorConfig, generate_events, generate_lines
from pulse.contact import ContactState, decode_state, encode_state
from pulse.events import Event
from pulse.facts import compact, is_duplicate
from pulse.journey import Journey
from pulse.model import LeadModel
from pulse.redis_server import PrivateRedis
from pulse.rules import Rules, default_rules_path, load_rules
from pulse.triggers import Trigger

BATCH = 1000
"""Items per benchmarked call: the flow's default source batch size."""

_HISTORY = GeneratorConfig(contacts=BATCH, events=20 * BATCH, seed=11)
"""Events that give the benchmarked contacts a realistic history (about 20 each)."""
_MIX = GeneratorConfig(contacts=BATCH, events=BATCH, seed=12)
"""A batch of new events over the same contacts: the realistic mix applied to them."""


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: `PULSE_TEST_REDIS_URL`, or a private redis-server for the session."""
    external = os.environ.get("PULSE_TEST_REDIS_URL")
    if external:
        yield external
        return
    with PrivateRedis(data_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def rules() -> Rules:
    """The shipped default rules pack."""
    return load_rules(default_rules_path())


@pytest.fixture(scope="session")
def lines() -> list[bytes]:
    """A batch of typical raw event lines, as the file source reads them."""
    return list(islice(generate_lines(_MIX), BATCH))


@pytest.fixture(scope="session")
def events() -> list[Event]:
    """The same batch, decoded."""
    return list(islice(generate_events(_MIX), BATCH))


@pytest.fixture(scope="session")
def state_blobs(rules: Rules) -> dict[str, bytes]:
    """Encoded states of the contacts after a realistic history, applied with `Journey`.

    With the model as the engine runs it, so states hold their pending label vectors.
    """
    journey = Journey(rules, new_model(rules))
    states: dict[str, ContactState] = {}
    fired: list[Trigger] = []
    for event in generate_events(_HISTORY):
        state = states.setdefault(event.key, ContactState())
        if not is_duplicate(state, event):
            journey.apply(state, event, fired)
    for state in states.values():
        compact(state)
    return {key: encode_state(state) for key, state in states.items()}


def new_model(rules: Rules) -> LeadModel | None:
    """A fresh online model as the engine builds it, or `None` when the rules disable it."""
    return LeadModel(rules.model) if rules.model.enabled else None


@pytest.fixture
def fresh_states(state_blobs: dict[str, bytes]) -> dict[str, ContactState]:
    """Decoded copies of the states, safe to mutate."""
    return {key: decode_state(blob) for key, blob in state_blobs.items()}
