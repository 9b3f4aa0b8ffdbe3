"""Trigger decisions: `is_duplicate` + `Journey.apply` over a realistic batch."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from conftest import new_model
from pulse.contact import ContactState, decode_state
from pulse.events import Event
from pulse.facts import compact, is_duplicate
from pulse.journey import Journey
from pulse.rules import Rules
from pulse.triggers import Trigger


def _apply_batch(journey: Journey, states: dict[str, ContactState], events: list[Event]) -> int:
    fired: list[Trigger] = []
    for event in events:
        state = states.setdefault(event.key, ContactState())
        if not is_duplicate(state, event):
            journey.apply(state, event, fired)
    for state in states.values():
        compact(state)
    return len(fired)


def _fresh(state_blobs: dict[str, bytes]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (({k: decode_state(b) for k, b in state_blobs.items()},), {})


@pytest.mark.parametrize("with_model", [True, False], ids=["model", "rules_only"])
@pytest.mark.benchmark(group="journey")
def test_apply_realistic_batch(
    benchmark: BenchmarkFixture,
    events: list[Event],
    state_blobs: dict[str, bytes],
    rules: Rules,
    with_model: bool,
) -> None:
    """A batch of the generated mix on contacts with history: dedupe, windows, points,
    model, stage, triggers and timers, then compaction (states reset every round)."""
    journey = Journey(rules, new_model(rules) if with_model else None)
    benchmark.extra_info["items"] = len(events)

    fired = benchmark.pedantic(  # type: ignore[no-untyped-call]  # pytest-benchmark: untyped
        lambda states: _apply_batch(journey, states, events),
        setup=lambda: _fresh(state_blobs),
        rounds=20,
        warmup_rounds=1,
    )

    assert fired >= 0
