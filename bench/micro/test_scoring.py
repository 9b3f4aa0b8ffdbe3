"""Scores: the decayed total at a time, and the decay factor itself."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pulse.contact import ContactState
from pulse.events import Event
from pulse.rules import Rules
from pulse.scoring import decay_factor, score_at


@pytest.mark.benchmark(group="score")
def test_score_at(
    benchmark: BenchmarkFixture,
    events: list[Event],
    fresh_states: dict[str, ContactState],
    rules: Rules,
) -> None:
    """`score_at` of each event's contact at the event's time (the per-event score read)."""
    pairs = [(fresh_states[e.key], e.ts_ms) for e in events if e.key in fresh_states]
    benchmark.extra_info["items"] = len(pairs)

    scores = benchmark(lambda: [score_at(s, ts, rules.scoring) for s, ts in pairs])

    assert any(scores)


@pytest.mark.benchmark(group="score")
def test_decay_factor(benchmark: BenchmarkFixture, rules: Rules) -> None:
    """`decay_factor` over a spread of elapsed times (minutes to months)."""
    half_life_ms = rules.scoring.half_life.ms
    elapsed = [i * 3_600_007 for i in range(1000)]
    benchmark.extra_info["items"] = len(elapsed)

    factors = benchmark(lambda: [decay_factor(ms, half_life_ms) for ms in elapsed])

    assert factors[0] == 1.0
