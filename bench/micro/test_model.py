"""The online model on the hot path: features of a contact and its purchase probability."""

from __future__ import annotations

import pytest

from conftest import new_model
from pulse.contact import ContactState
from pulse.events import Event
from pulse.features import extract_features
from pulse.rules import Rules


@pytest.mark.benchmark(group="model")
def test_features_and_probability(
    benchmark, events: list[Event], fresh_states: dict[str, ContactState], rules: Rules
) -> None:
    """`extract_features` + `LeadModel.probability`, once per scored event as `Journey` does."""
    model = new_model(rules)
    if model is None:
        pytest.skip("the default rules disable the model")
    pairs = [(fresh_states[e.key], e.ts_ms) for e in events if e.key in fresh_states]
    benchmark.extra_info["items"] = len(pairs)

    def predict() -> list[float]:
        return [model.probability(extract_features(s, ts, s.last_active_ts)) for s, ts in pairs]

    probabilities = benchmark(predict)

    assert len(probabilities) == len(pairs)
