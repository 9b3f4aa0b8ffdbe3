"""The lead model as data: exact round trips, finite numbers, a blend that earns its place."""

from __future__ import annotations

import itertools
import math
import pickle
import random

import msgspec
import pytest

from pulse.errors import StateError
from pulse.features import FEATURE_NAMES, POINTS_FEATURE
from pulse.model import LeadModel, SavedModel
from pulse.rules import ModelSpec

WIDTH = len(FEATURE_NAMES)
POINTS = FEATURE_NAMES.index(POINTS_FEATURE)
CART = FEATURE_NAMES.index("cart_value")


def _examples(n: int, seed: int, start: int = 0) -> list[tuple[int, str, int, bool, list[float]]]:
    """Labels where buying follows the points and the cart: something to learn."""
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        x = [float(rng.random() < 0.2) * rng.randint(1, 5) for _ in range(WIDTH)]
        x[POINTS] = rng.uniform(0, 100)
        x[CART] = rng.choice([0.0, rng.uniform(10, 500)])
        bought = rng.random() < 0.02 + 0.5 * (x[POINTS] / 100) * (x[CART] > 0)
        out.append((i, f"c{i}", i, bought, x))
    return out


def _learned(spec: ModelSpec, examples: list[tuple[int, str, int, bool, list[float]]]) -> LeadModel:
    model = LeadModel(spec)
    for example in examples:
        model.add_example(example)
    model.learn_until(examples[-1][0] + 1)
    return model


def test_reloaded_model_predicts_bit_for_bit_and_keeps_learning_identically() -> None:
    spec = ModelSpec(warmup_labels=50)
    model = _learned(spec, _examples(400, seed=1))
    model.add_example(_examples(1, seed=9, start=10_000)[0])  # a buffered label travels too
    restored = LeadModel.loads(model.dumps(), spec)
    probes = [e[4] for e in _examples(50, seed=2)]
    assert [restored.probability(x) for x in probes] == [model.probability(x) for x in probes]
    assert restored.quality() == model.quality()
    assert restored.buffer == model.buffer
    more = _examples(300, seed=3, start=20_000)
    for m in (model, restored):
        for example in more:
            m.add_example(example)
        m.learn_until(30_000)
    assert [restored.probability(x) for x in probes] == [model.probability(x) for x in probes]
    assert restored.dumps() == model.dumps()


def test_a_price_of_1e200_neither_poisons_the_weights_nor_stops_the_save() -> None:
    spec = ModelSpec(warmup_labels=10)
    examples = _examples(200, seed=4)
    examples[100][4][CART] = 1e200
    examples[101][4][CART] = math.inf
    examples[102][4][CART] = math.nan
    model = _learned(spec, examples)
    p = model.probability(examples[100][4])
    assert p is not None and 0 < p < 1
    saved = msgspec.msgpack.decode(model.dumps(), type=SavedModel)
    assert all(math.isfinite(w) for w in saved.weights)


def test_a_non_finite_model_is_refused_rather_than_saved() -> None:
    model = _learned(ModelSpec(), _examples(20, seed=5))
    model.regression.intercept = math.nan
    with pytest.raises(StateError, match="non-finite"):
        model.dumps()


def test_a_learn_step_that_would_make_a_weight_non_finite_is_skipped_and_counted() -> None:
    model = LeadModel(ModelSpec(learning_rate=1e308))
    for example in _examples(50, seed=6):
        model.add_example(example)
    model.learn_until(10_000)
    assert model.skipped > 0
    assert model.quality()["skipped"] == model.skipped
    model.dumps()  # still finite, so still saved


def test_a_pickled_value_is_never_unpickled(tmp_path) -> None:
    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (marker.write_text, ("pwned",))

    restored = LeadModel.loads(pickle.dumps(Exploit()), ModelSpec())
    assert not marker.exists()
    assert restored.labels == 0


def test_a_saved_model_with_nan_or_bad_shapes_is_an_error() -> None:
    model = _learned(ModelSpec(), _examples(20, seed=7))
    raw = msgspec.msgpack.decode(model.dumps())
    raw[6][0] = math.nan  # field 6: `weights`
    with pytest.raises(StateError, match="non-finite"):
        LeadModel.loads(msgspec.msgpack.encode(raw), ModelSpec())
    raw = msgspec.msgpack.decode(model.dumps())
    raw[3] = raw[3][:3]  # field 3: `scaler_counts`
    with pytest.raises(StateError, match="not valid"):
        LeadModel.loads(msgspec.msgpack.encode(raw), ModelSpec())
    with pytest.raises(StateError, match="not valid"):
        LeadModel.loads(b"\x93\x01\x02", ModelSpec())


def test_warming_up_model_gives_no_probability_and_adds_no_points() -> None:
    spec = ModelSpec(warmup_labels=1_000)
    model = _learned(spec, _examples(100, seed=8))
    x = _examples(1, seed=8)[0][4]
    assert model.probability(x) is None
    assert model.blend(50.0, model.probability(x)) == 0.0


def test_model_that_learned_nothing_is_not_blended() -> None:
    """Labels that are coin flips: the model cannot beat the points baseline."""
    rng = random.Random(10)
    examples = [
        (i, "c", i, rng.random() < 0.3, [float(rng.randint(0, 3)) for _ in range(WIDTH)])
        for i in range(600)
    ]
    model = _learned(ModelSpec(warmup_labels=50), examples)
    assert model.is_warm and not model.is_proven
    p = model.probability(examples[0][4])
    assert p is not None and p < 0.9, "no certainty from noise"
    assert model.blend(30.0, p) == 0.0


def _proven() -> LeadModel:
    model = _learned(ModelSpec(warmup_labels=100), _examples(3_000, seed=11))
    assert model.is_proven, model.quality()
    return model


def test_proven_blend_ranks_contacts_as_the_probability_up_to_the_tiebreak() -> None:
    model = _proven()
    scored = []
    for *_, x in _examples(400, seed=12):
        p = model.probability(x)
        assert p is not None
        scored.append((p, x[POINTS] + model.blend(x[POINTS], p), 50.0 + model.blend(50.0, p)))
    by_p = sorted(scored)
    pairs = [(a, b) for a, b in itertools.pairwise(by_p) if a[0] < b[0]]
    assert len(pairs) > 300
    assert all(a[2] < b[2] for a, b in pairs), "at equal points: strictly increasing in p"
    assert all(a[1] < b[1] + 0.01 for a, b in pairs), "points move it by under 0.01"


def test_equal_probabilities_are_ordered_by_points_by_less_than_a_hundredth() -> None:
    model = _proven()
    low, high = 10.0 + model.blend(10.0, 0.2), 90.0 + model.blend(90.0, 0.2)
    assert low < high < low + 0.01


def test_proven_score_flags_about_as_many_contacts_as_the_points_would() -> None:
    """Probabilities map onto the points by quantile: a threshold keeps its volume."""
    model = _proven()
    fresh = [x for *_, x in _examples(3_000, seed=14)]
    scores = [x[POINTS] + model.blend(x[POINTS], model.probability(x)) for x in fresh]
    for threshold in (20.0, 50.0, 80.0):
        by_points = sum(x[POINTS] >= threshold for x in fresh) / len(fresh)
        by_score = sum(score >= threshold for score in scores) / len(scores)
        assert by_score == pytest.approx(by_points, abs=0.1), threshold
    assert min(scores) >= 0.0 and max(scores) <= 101.0, "within the points seen"


def test_the_probability_to_points_map_changes_only_when_the_labels_double() -> None:
    examples = _examples(1_000, seed=13)
    model = LeadModel(ModelSpec(warmup_labels=100))
    anchors = {}
    for example in examples:
        model.add_example(example)
        model.learn_until(example[0] + 1)
        anchors.setdefault(repr(model.anchor), model.labels)
    assert sorted(anchors.values()) == [1, 200, 400, 800]


def test_reloaded_proven_model_blends_the_same_even_inside_the_gate_margin() -> None:
    """The gate has hysteresis, so whether the model is in the score is saved with it."""
    spec = ModelSpec(warmup_labels=100)
    model = _learned(spec, _examples(3_000, seed=11))
    assert model.is_proven
    baseline_loss = model.recent_log_loss[1]
    # Inside the margin: a model that is in stays in, one that is out stays out.
    model.recent_log_loss = [baseline_loss * 1.1, baseline_loss]
    model._compile()
    assert model.is_proven
    restored = LeadModel.loads(model.dumps(), spec)
    assert restored.is_proven
    probes = [e[4] for e in _examples(50, seed=2)]
    assert [restored.blend(x[POINTS], restored.probability(x)) for x in probes] == [
        model.blend(x[POINTS], model.probability(x)) for x in probes
    ]
    model.is_proven = False
    model._compile()
    assert not model.is_proven
    assert not LeadModel.loads(model.dumps(), spec).is_proven
