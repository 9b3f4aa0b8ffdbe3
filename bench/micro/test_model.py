"""The online model on the hot path: features of a contact and its purchase probability."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from conftest import new_model
from pulse.contact import ContactState
from pulse.events import Event
from pulse.features import extract_features
from pulse.rules import Rules


@pytest.mark.benchmark(group="model")
def test_features_and_probability(
    benchmark: BenchmarkFixture,
    events: list[Event],
    fresh_states: dict[str, ContactState],
    rules: Rules,
) -> None:
    """`extract_features` + `LeadModel.probability`, once per scored event as `Journey` does."""
    model = new_model(rules)
    if model is None:
        pytest.skip("the default rules disable the model")
    pairs = [(fresh_states[e.key], e.ts_ms) for e in events if e.key in fresh_states]
    benchmark.extra_info["items"] = len(pairs)

    def predict() -> list[float | None]:
        return [model.probability(extract_features(s, ts, s.last_active_ts)) for s, ts in pairs]

    probabilities = benchmark(predict)

    assert len(probabilities) == len(pairs)


@pytest.mark.benchmark(group="model")
def test_learn_1000_labels(
    benchmark: BenchmarkFixture,
    events: list[Event],
    fresh_states: dict[str, ContactState],
    rules: Rules,
) -> None:
    """`LeadModel.learn_until` over 1000 resolved labels: prequential predict, metrics, learn."""
    if new_model(rules) is None:
        pytest.skip("the default rules disable the model")
    pairs = [(fresh_states[e.key], e) for e in events if e.key in fresh_states]
    examples = [
        (e.ts_ms, e.key, e.ts_ms, i % 7 == 0, extract_features(s, e.ts_ms, s.last_active_ts))
        for i, (s, e) in enumerate(pairs)
    ]
    examples = (examples * (1000 // len(examples) + 1))[:1000]
    benchmark.extra_info["items"] = len(examples)

    def setup() -> tuple[tuple[object, ...], dict[str, object]]:
        model = new_model(rules)
        assert model is not None
        for example in examples:
            model.add_example(example)
        return (model,), {}

    learned = benchmark.pedantic(  # type: ignore[no-untyped-call]  # pytest-benchmark: untyped
        lambda model: model.learn_until(max(e[0] for e in examples) + 1),
        setup=setup,
        rounds=10,
        warmup_rounds=1,
    )

    assert learned == len(examples)
