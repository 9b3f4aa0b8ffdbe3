"""Delayed labels: pending vectors resolved by a purchase or by the horizon."""

from __future__ import annotations

from pulse.contact import ContactState
from pulse.labels import LABEL_SLOT, resolve_expired, resolve_purchase, sample_vector
from pulse.model import LeadModel, squash
from pulse.rules import Duration, ModelSpec

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_767_607_200_000
SPEC = ModelSpec(horizon=Duration(7 * DAY), sample_every=Duration(DAY), max_pending=3)


def test_vectors_are_sampled_at_most_once_per_sample_period_and_up_to_max_pending() -> None:
    state = ContactState()
    for hours in (0, 5, 24, 30, 48, 72, 96):
        sample_vector(state, T0 + hours * HOUR, [float(hours)], SPEC)
    assert [v[0] for v in state.pending] == [T0, T0 + 24 * HOUR, T0 + 48 * HOUR]
    assert state.timers[LABEL_SLOT].due_ms == T0 + 7 * DAY


def test_purchase_within_horizon_makes_every_pending_vector_positive() -> None:
    model, state = LeadModel(SPEC), ContactState()
    sample_vector(state, T0, [1.0], SPEC)
    sample_vector(state, T0 + 2 * DAY, [2.0], SPEC)
    resolve_purchase(state, "c1", T0 + 3 * DAY, model)
    assert sorted((e[2], e[3]) for e in model.buffer) == [(T0, True), (T0 + 2 * DAY, True)]
    assert all(e[0] == T0 + 3 * DAY for e in model.buffer)
    assert state.pending == []
    assert LABEL_SLOT not in state.timers


def test_purchase_after_the_horizon_is_not_a_positive_for_that_vector() -> None:
    model, state = LeadModel(SPEC), ContactState()
    sample_vector(state, T0, [1.0], SPEC)
    resolve_purchase(state, "c1", T0 + 8 * DAY, model)
    assert model.buffer == []


def test_horizon_passing_makes_only_the_expired_vectors_negative() -> None:
    model, state = LeadModel(SPEC), ContactState()
    sample_vector(state, T0, [1.0], SPEC)
    sample_vector(state, T0 + 3 * DAY, [2.0], SPEC)
    resolve_expired(state, "c1", T0 + 7 * DAY, model)
    assert [(e[0], e[2], e[3]) for e in model.buffer] == [(T0 + 7 * DAY, T0, False)]
    assert [v[0] for v in state.pending] == [T0 + 3 * DAY]
    assert state.timers[LABEL_SLOT].due_ms == T0 + 10 * DAY


def test_an_out_of_order_purchase_before_a_vector_leaves_that_vector_open() -> None:
    model, state = LeadModel(SPEC), ContactState()
    sample_vector(state, T0 + DAY, [1.0], SPEC)
    resolve_purchase(state, "c1", T0, model)
    assert model.buffer == []
    assert len(state.pending) == 1


def test_labels_are_learned_only_at_the_checkpoint_after_their_resolution() -> None:
    model = LeadModel(SPEC)
    model.add_example((T0 + 10, "c1", T0, True, [0.0] * len(model.names)))
    model.add_example((T0 + 2 * HOUR, "c2", T0, False, [1.0] * len(model.names)))
    assert model.learn_until(T0 + HOUR) == 1
    assert model.labels == 1
    assert len(model.buffer) == 1


def test_saved_model_restores_with_identical_predictions() -> None:
    model = LeadModel(ModelSpec())
    width = len(model.names)
    for i in range(300):
        features = [float((i * 7 + j) % 5) for j in range(width)]
        model.add_example((i, f"c{i}", i, i % 3 == 0, features))
    model.learn_until(1_000)
    probe = [float(j % 4) for j in range(width)]
    restored = LeadModel.loads(model.dumps(), ModelSpec())
    assert restored.labels == 300
    assert restored.probability(probe) == model.probability(probe)


def test_saved_model_under_other_settings_is_started_afresh() -> None:
    model = LeadModel(ModelSpec())
    model.add_example((0, "c", 0, True, [1.0] * len(model.names)))
    model.learn_until(10)
    restored = LeadModel.loads(model.dumps(), ModelSpec(learning_rate=0.5))
    assert restored.labels == 0


def test_compiled_linear_prediction_matches_river_then_calibration() -> None:
    model = LeadModel(ModelSpec())
    width = len(model.names)
    for i in range(200):
        model.add_example((i, "c", i, i % 4 == 0, [float((i + j) % 3) for j in range(width)]))
    model.learn_until(500)
    probe = [float(j % 3) for j in range(width)]
    x = {name: squash(value) for name, value in zip(model.names, probe, strict=True)}
    # Folded coefficients give what river computes, then Platt scaling.
    expected = model._calibrated(model.regression._raw_dot_one(model.scaler.transform_one(x)))
    assert abs(model.probability(probe) - expected) < 1e-9
