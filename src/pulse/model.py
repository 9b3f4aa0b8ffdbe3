"""The online lead model: a river pipeline that learns from conversions as they happen.

Labels arrive late: a feature vector stored when a contact is scored becomes a
positive example when the contact buys within the horizon, a negative one when
the horizon passes. Resolved examples are buffered and learned at event-time
checkpoints (`learn_every`), in a canonical order, so the model, and every
prediction made with it, is the same whatever the batch size and in replay or
live.

Between checkpoints the model does not change, so for the default linear
pipeline (`StandardScaler | LogisticRegression`) the scaler and weights are
folded into one coefficient per feature at each checkpoint: a prediction is
then a sparse dot product over the non-zero features, several times cheaper
than river's `predict_proba_one`, and the per-feature terms are the score's
explanation.
"""

from __future__ import annotations

import logging
import math
import operator
import pickle
from typing import Any

from river import compose, drift, linear_model, metrics, optim, preprocessing, tree

from pulse.features import FEATURE_NAMES
from pulse.rules import ModelSpec

__all__ = ["Example", "LeadModel"]

log = logging.getLogger(__name__)

Example = tuple[int, str, int, bool, list[float]]
"""A resolved label: (resolved_at_ms, contact, scored_at_ms, bought, features)."""


class LeadModel:
    """The model, its prequential quality metrics and its buffer of resolved labels.

    Picklable: the engine stores it in Redis with each batch's commit.
    """

    record_history = False
    """When set (by the quality benchmark), every learned label is kept in `history`
    as (bought, prequential probability, scored_at_ms, learned_at_ms, features)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.names: tuple[str, ...] = tuple(spec.features) or FEATURE_NAMES
        self._index = [FEATURE_NAMES.index(name) for name in self.names]
        self.pipeline = _build(spec)
        self.labels = 0
        self.positives = 0
        # river's metrics and detectors are untyped: held as Any at this seam.
        self.auc: Any = metrics.ROCAUC()  # type: ignore[no-untyped-call]  # river is untyped
        self.log_loss: Any = metrics.LogLoss()  # type: ignore[no-untyped-call]  # idem
        self.drift: Any = drift.ADWIN()  # type: ignore[no-untyped-call]  # idem
        self.drifts = 0
        self.buffer: list[Example] = []
        self.history: list[tuple[bool, float, int, int, list[float]]] = []
        self.checkpoint_ms = 0
        self.labels_stream_id = "0-0"
        self.is_changed = False
        """Whether there is anything new to save (labels buffered or learned)."""
        self.has_learned = False
        """Whether the weights changed since the model was last published."""
        """The last entry of the shared labels stream this model has taken in."""
        self._coefficients: list[tuple[int, float]] = []
        self._dense: list[float] = [0.0] * len(FEATURE_NAMES)
        self._intercept = 0.0
        self._is_linear = spec.kind == "logistic"
        self._compile()

    # -- predicting -------------------------------------------------------------

    @property
    def is_warm(self) -> bool:
        """Whether enough labels were learned for the probability to count."""
        return self.labels >= self.spec.warmup_labels

    def probability(self, features: list[float]) -> float:
        """Probability that the contact buys within the horizon."""
        if self._is_linear:
            # One C-level pass over the vector: the scaler and weights are folded in.
            return _sigmoid(self._intercept + sum(map(operator.mul, self._dense, features)))
        proba = self.pipeline.predict_proba_one(self._as_dict(features))
        return float(proba.get(True, 0.0))

    def contributions(self, features: list[float], top: int = 5) -> dict[str, float]:
        """The largest terms of the linear score (log-odds), by feature name."""
        if not self._is_linear:
            return {}
        scaler, regression = self.pipeline.steps.values()
        terms = {}
        for name in self.names:
            value = features[FEATURE_NAMES.index(name)]
            std = math.sqrt(scaler.vars.get(name, 0.0)) or 1.0
            weight = regression.weights.get(name, 0.0)
            term = weight * (value - scaler.means.get(name, 0.0)) / std
            if term:
                terms[name] = round(term, 3)
        ranked = sorted(terms.items(), key=lambda item: -abs(item[1]))
        return dict(ranked[:top])

    # -- learning ---------------------------------------------------------------

    def add_example(self, example: Example) -> None:
        """Buffer a resolved label until the checkpoint after its resolution time."""
        self.buffer.append(example)
        self.is_changed = True

    def next_checkpoint_ms(self, watermark_ms: int) -> int | None:
        """The checkpoint the watermark has reached, if it is past the last one."""
        step = self.spec.learn_every.ms or 1
        checkpoint = watermark_ms // step * step
        return checkpoint if checkpoint > self.checkpoint_ms else None

    def learn_until(self, checkpoint_ms: int) -> int:
        """Learn every buffered label resolved before `checkpoint_ms`, in canonical order.

        Each example is first predicted (prequential evaluation), then learned.
        Returns how many were learned.
        """
        self.checkpoint_ms = checkpoint_ms
        ready = sorted(e for e in self.buffer if e[0] < checkpoint_ms)
        if not ready:
            return 0
        self.buffer = [e for e in self.buffer if e[0] >= checkpoint_ms]
        for _, _, scored_at, bought, features in ready:
            x = self._as_dict(features)
            p = float(self.pipeline.predict_proba_one(x).get(True, 0.0))
            self.auc.update(bought, p)
            self.log_loss.update(bought, p)
            if self.record_history:
                self.history.append((bought, p, scored_at, checkpoint_ms, features))
            self.drift.update(float(bought != (p >= 0.5)))
            if self.drift.drift_detected:
                self.drifts += 1
                log.warning(
                    "model error rate shifted after %d labels (ROC AUC %.3f)",
                    self.labels, self.auc.get(),
                )  # fmt: skip
            self.pipeline.learn_one(x, bought)
            self.labels += 1
            self.positives += bought
        self._compile()
        self.is_changed = self.has_learned = True
        return len(ready)

    def quality(self) -> dict[str, float | int]:
        """Prequential ROC AUC and log loss over the labels learned so far."""
        return {
            "labels": self.labels,
            "positives": self.positives,
            "roc_auc": round(float(self.auc.get()), 4),
            "log_loss": round(float(self.log_loss.get()), 4),
            "drifts": self.drifts,
            "pending_labels": len(self.buffer),
            "checkpoint_ms": self.checkpoint_ms,
        }

    def _as_dict(self, features: list[float]) -> dict[str, float]:
        return {name: features[i] for name, i in zip(self.names, self._index, strict=True)}

    def _compile(self) -> None:
        """Fold scaler and weights into per-feature coefficients (linear model only)."""
        if not self._is_linear:
            return
        scaler, regression = self.pipeline.steps.values()
        intercept = float(regression.intercept)
        coefficients = []
        for name, index in zip(self.names, self._index, strict=True):
            weight = regression.weights.get(name, 0.0)
            if not weight:
                continue
            # river's StandardScaler leaves a feature with zero variance at 0.
            variance = scaler.vars.get(name, 0.0)
            if variance <= 0:
                continue
            coefficient = weight / math.sqrt(variance)
            intercept -= coefficient * scaler.means.get(name, 0.0)
            coefficients.append((index, coefficient))
        self._coefficients = coefficients
        self._intercept = intercept
        self._dense = [0.0] * len(FEATURE_NAMES)
        for index, coefficient in coefficients:
            self._dense[index] = coefficient

    # -- persistence ------------------------------------------------------------

    def dumps(self) -> bytes:
        """Serialise for Redis (pickle: the store is pulse's own, never user input)."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(raw: bytes, spec: ModelSpec) -> LeadModel:
        """Restore a saved model; a model saved under other settings is started afresh."""
        model = pickle.loads(raw)
        if not isinstance(model, LeadModel) or model.spec != spec:
            log.warning("model settings changed: starting a new model")
            return LeadModel(spec)
        return model


def _build(spec: ModelSpec) -> Any:
    match spec.kind:
        case "logistic":
            return compose.Pipeline(
                preprocessing.StandardScaler(),
                linear_model.LogisticRegression(
                    optimizer=optim.SGD(spec.learning_rate), l2=spec.l2
                ),
            )
        case "hoeffding_tree":
            return tree.HoeffdingTreeClassifier()


def _sigmoid(z: float) -> float:
    if z < -35:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))
