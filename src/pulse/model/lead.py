"""`LeadModel`: the river pipeline, its points baseline, their metrics and the label buffer."""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from typing import Any

import msgspec
from river import linear_model, optim, preprocessing, utils

from pulse.errors import RuleError, StateError
from pulse.features import FEATURE_NAMES, POINTS_FEATURE
from pulse.model.saved import MODEL_FORMAT, SavedModel, _format_of, _sized
from pulse.model.stats import (
    _BINS,
    _CEILING,
    _LOGIT_SPAN,
    _POINT_BINS,
    _bin,
    _learn_logistic,
    _log_loss,
    _point_bin,
    _sigmoid,
    auc_from_bins,
    cumulative,
    quantile_points,
    squash,
    tiebreak,
)
from pulse.rules import ModelSpec

log = logging.getLogger(__name__)

Example = tuple[int, str, int, bool, list[float]]
"""A resolved label: (resolved_at_ms, contact, scored_at_ms, bought, features)."""

_RECENT = 1 / 500
"""Weight of the newest label in the recent (exponentially weighted) log loss."""

_P_FLOOR = 1e-4
"""Probabilities are kept within `[_P_FLOOR, 1 - _P_FLOOR]`."""

_GATE_MARGIN = 0.2
"""A proven model leaves the score once its recent log loss is this much worse (relative)."""

_MATURE_LABELS = 5_000
"""The quantile map is re-taken at each doubling of the labels until it rests on this
many labels, then kept: moving it again would re-rank contacts scored before and
after (measured: re-mapping when the points' distribution moved cost the blend 0.01
of ROC AUC on generated journeys, whose points drift as contacts accumulate)."""

_DRIFT_DELTA = 0.005
_DRIFT_THRESHOLD = 50.0
_DRIFT_MIN_LABELS = 30
"""Page-Hinkley test on the prequential log loss: a sustained rise is a drift."""

_log1p = math.log1p


class LeadModel:
    """The model, its points baseline, their prequential metrics and the label buffer.

    Call order: `probability` and `blend` on the hot path; `add_example` as labels
    resolve; `learn_until` at checkpoints; `dumps`/`loads` to persist.
    """

    record_history = False
    """When set (by the quality benchmark), every learned label is kept in `history`
    as (bought, prequential probability, scored_at_ms, learned_at_ms, features)."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        vector_names: tuple[str, ...] = FEATURE_NAMES,
        points_feature: str = POINTS_FEATURE,
    ) -> None:
        """`vector_names` name the positions of the feature vectors it is given
        (`FEATURE_NAMES` in pulse; the quality benchmark feeds other data)."""
        if spec.kind != "logistic":
            raise RuleError(
                [f"`model.kind` `{spec.kind}` is not supported: use `logistic` - at `$.model.kind`"]
            )
        self.spec = spec
        self.vector_names = vector_names
        self.names: tuple[str, ...] = tuple(spec.features) or vector_names
        self._index = [vector_names.index(name) for name in self.names]
        self._points_index = vector_names.index(points_feature)
        # river's estimators are untyped: held as Any at this seam.
        self.scaler: Any = preprocessing.StandardScaler()
        self.regression: Any = linear_model.LogisticRegression(
            optimizer=optim.SGD(spec.learning_rate),
            l2=spec.l2,
            intercept_lr=spec.learning_rate,
        )
        self.baseline = [0.0, 0.0]
        self.window = [[0] * _BINS, [0] * _POINT_BINS]
        """Histograms, over the labels learned warm since the last anchor, of the
        model's calibrated log-odds and of `squash(points)`: the next anchor."""
        self.anchor: list[list[int]] | None = None
        """The `window` that maps the model's probabilities onto the points by quantile
        (see `blend`): taken at twice `warmup_labels`, then each time the labels have
        doubled, until it rests on `_MATURE_LABELS` labels; then kept for the model's
        life. Between two anchors, the score ranks contacts as the probability does."""
        self._cdfs: tuple[list[float], list[float]] | None = None
        self.anchored_at = 0
        self.calibration = [0.0, 1.0]
        self.model_bins = [[0] * _BINS, [0] * _BINS]
        self.baseline_bins = [[0] * _BINS, [0] * _BINS]
        self.log_loss_sums = [0.0, 0.0]
        self.recent_log_loss = [0.0, 0.0]
        self.labels = 0
        self.positives = 0
        self.skipped = 0
        """Learn steps skipped because they would have made a weight non-finite."""
        self.drifts = 0
        self.drift_state = [0.0, 0.0, 0.0]
        self.buffer: list[Example] = []
        self.history: list[tuple[bool, float, int, int, list[float]]] = []
        self.checkpoint_ms = 0
        self.labels_stream_id = "0-0"
        """The last entry of the shared labels stream this model has taken in."""
        self.is_changed = False
        """Whether there is anything new to save (labels buffered or learned)."""
        self.has_learned = False
        """Whether the weights changed since the model was last published."""
        self._dense: list[float] = [0.0] * len(vector_names)
        self._intercept = 0.0
        self.is_proven = False
        """Whether the probability counts in the score (see `blend`)."""
        self._compile()

    # -- predicting -------------------------------------------------------------

    @property
    def is_warm(self) -> bool:
        """Whether enough labels were learned for the probability to be given."""
        return self.labels >= self.spec.warmup_labels

    def probability(self, features: list[float]) -> float | None:
        """Probability that the contact buys within the horizon; `None` while warming up."""
        if not self.is_warm:
            return None
        # Sparse: most features are 0, and squash(x) is 0 for x <= 0 (or NaN), so only
        # the positive ones add a term (in vector order, as a full dot product would):
        # measured 4.7 us against 42 us for clip/log1p/multiply maps over the vector.
        dense, total = self._dense, 0.0
        for i, value in enumerate(features):
            if value > 0:
                total += dense[i] * _log1p(value if value < _CEILING else _CEILING)
        z = self._intercept + total
        return min(max(self._calibrated(z), _P_FLOOR), 1 - _P_FLOOR)

    def _calibrated(self, z: float) -> float:
        """The probability for the regression's log-odds `z`, through Platt scaling."""
        a, b = self.calibration
        return _sigmoid(a + b * min(max(z, -_LOGIT_SPAN), _LOGIT_SPAN))

    def blend(self, points: float, p: float | None) -> float:
        """The points the model adds to (or takes from) `points`, given its probability `p`.

        0 until the model is proven (warm, anchored, and its recent prequential log
        loss below the points baseline's; once in, until it is 20 % above): the score
        is the rule points. Once proven, the score (`points` + this) is a strictly
        increasing function of `p` alone, the points at the same quantile among the
        labels' points as `p` among their probabilities (over the labels of the
        `anchor`), plus a tie-break under 0.01 points that grows with `points`. The
        model already sees the points (a feature): mixing its ranking with theirs
        again would only weaken it. The quantile map keeps the score in the points'
        range and spread, so a stage threshold holds about the same share of scored
        contacts as with points alone, the ones the model ranks highest.
        """
        cdfs = self._cdfs
        if p is None or p <= 0 or not self.is_proven or cdfs is None:
            return 0.0
        p = min(max(p, _P_FLOOR), 1 - _P_FLOOR)
        return quantile_points(math.log(p / (1 - p)), *cdfs) + tiebreak(points) - points

    def contributions(self, features: list[float], top: int = 5) -> dict[str, float]:
        """The largest terms of the linear score (log-odds), by feature name."""
        scaler, weights = self.scaler, self.regression._weights
        terms = {}
        for name, index in zip(self.names, self._index, strict=True):
            variance = scaler.vars.get(name, 0.0)
            if variance <= 0:
                continue
            value = squash(features[index])
            term = weights.get(name, 0.0) * (value - scaler.means.get(name, 0.0))
            term /= math.sqrt(variance)
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

        Each example is first predicted (prequential evaluation) by the model and
        the points baseline, then learned by both. Returns how many were learned.
        """
        self.checkpoint_ms = checkpoint_ms
        ready = sorted(e for e in self.buffer if e[0] < checkpoint_ms)
        if not ready:
            return 0
        self.buffer = [e for e in self.buffer if e[0] >= checkpoint_ms]
        skipped = self.skipped
        for _, _, scored_at, bought, features in ready:
            x = {name: squash(features[i]) for name, i in zip(self.names, self._index, strict=True)}
            raw = self.regression._raw_dot_one(self.scaler.transform_one(x))
            clipped = min(max(raw, -_LOGIT_SPAN), _LOGIT_SPAN)
            a, b = self.calibration
            z = a + b * clipped
            u = squash(features[self._points_index])
            z_base = self.baseline[0] + self.baseline[1] * u
            self._evaluate(bought, z, z_base)
            if self.record_history:
                self.history.append((bought, _sigmoid(z), scored_at, checkpoint_ms, features))
            self._learn(x, bought)
            lr = self.spec.learning_rate
            self.skipped += not _learn_logistic(self.baseline, u, bought, lr)
            self.skipped += not _learn_logistic(self.calibration, clipped, bought, lr / 5)
            if self.is_warm:
                self.window[0][_bin(z)] += 1
                self.window[1][_point_bin(u)] += 1
            self.labels += 1
            self.positives += bought
            self._reanchor()
        if self.skipped > skipped:
            log.warning(
                "model: %d learn steps skipped (they would have made a weight non-finite)",
                self.skipped - skipped,
            )
        self._compile()
        self.is_changed = self.has_learned = True
        return len(ready)

    def _reanchor(self) -> None:
        """Take the window as the anchor when it is due (see `anchor`); start a new window."""
        anchor = self.anchor
        if anchor is not None and sum(anchor[1]) >= _MATURE_LABELS:
            return
        if self.labels >= 2 * max(self.spec.warmup_labels, self.anchored_at):
            self.anchor, self.anchored_at, self._cdfs = self.window, self.labels, None
            self.window = [[0] * _BINS, [0] * _POINT_BINS]

    def _learn(self, x: dict[str, float], bought: bool) -> None:
        """One SGD step; undone (and counted) if it would leave a non-finite weight."""
        regression = self.regression
        weights, intercept = dict(regression._weights), regression.intercept
        self.scaler.learn_one(x)
        regression.learn_one(self.scaler.transform_one(x), bought)
        if math.isfinite(regression.intercept) and all(
            map(math.isfinite, regression._weights.values())
        ):
            return
        regression._weights = utils.VectorDict(weights)
        regression.intercept = intercept
        self.skipped += 1

    def _evaluate(self, bought: bool, z: float, z_base: float) -> None:
        """Prequential metrics of the model (log-odds `z`) and the baseline (`z_base`)."""
        n = self.labels + 1
        recent = max(1 / n, _RECENT)
        losses = []
        for i, (log_odds, bins) in enumerate(((z, self.model_bins), (z_base, self.baseline_bins))):
            # Bounded (at most 35 nats per label) so the sums stay finite whatever the input.
            loss = _log_loss(bought, min(max(log_odds, -35.0), 35.0))
            losses.append(loss)
            self.log_loss_sums[i] += loss
            self.recent_log_loss[i] += recent * (loss - self.recent_log_loss[i])
            bins[0 if bought else 1][_bin(log_odds)] += 1
        mean, total, lowest = self.drift_state
        mean += (losses[0] - mean) / n
        total += losses[0] - mean - _DRIFT_DELTA
        lowest = min(lowest, total)
        if n >= _DRIFT_MIN_LABELS and total - lowest > _DRIFT_THRESHOLD:
            self.drifts += 1
            log.warning(
                "model log loss rose after %d labels (ROC AUC %.3f)",
                self.labels, auc_from_bins(*self.model_bins),
            )  # fmt: skip
            total = lowest = 0.0
        self.drift_state = [mean, total, lowest]

    def quality(self) -> dict[str, float | int]:
        """Prequential ROC AUC and log loss of the model and of the points baseline."""
        n = max(self.labels, 1)
        return {
            "labels": self.labels,
            "positives": self.positives,
            "roc_auc": round(auc_from_bins(*self.model_bins), 4),
            "log_loss": round(self.log_loss_sums[0] / n, 4),
            "recent_log_loss": round(self.recent_log_loss[0], 4),
            "points_roc_auc": round(auc_from_bins(*self.baseline_bins), 4),
            "points_log_loss": round(self.log_loss_sums[1] / n, 4),
            "points_recent_log_loss": round(self.recent_log_loss[1], 4),
            "blended": int(self.is_proven),
            "anchored_at": self.anchored_at,
            "skipped": self.skipped,
            "drifts": self.drifts,
            "pending_labels": len(self.buffer),
            "checkpoint_ms": self.checkpoint_ms,
        }

    def _compile(self) -> None:
        """Fold scaler and weights into per-feature coefficients; decide `is_proven`."""
        scaler, regression = self.scaler, self.regression
        intercept = float(regression.intercept)
        dense = [0.0] * len(self.vector_names)
        weights = regression._weights
        for name, index in zip(self.names, self._index, strict=True):
            weight = weights.get(name, 0.0)
            # river's StandardScaler leaves a feature with zero variance at 0.
            variance = scaler.vars.get(name, 0.0)
            if not weight or variance <= 0:
                continue
            coefficient = weight / math.sqrt(variance)
            intercept -= coefficient * scaler.means.get(name, 0.0)
            dense[index] = coefficient
        self._dense = dense
        self._intercept = intercept
        model_loss, baseline_loss = self.recent_log_loss
        anchor = self.anchor
        if anchor is not None and self._cdfs is None:
            self._cdfs = cumulative(anchor[0]), cumulative(anchor[1], to_end=False)
        # Hysteresis: once proven, the model stays in the score until its recent log
        # loss is clearly (`_GATE_MARGIN`) worse than the baseline's, so two scorers of
        # about the same loss do not swap with every checkpoint.
        limit = baseline_loss * (1 + _GATE_MARGIN) if self.is_proven else baseline_loss
        self.is_proven = self.is_warm and anchor is not None and model_loss < limit

    # -- persistence ------------------------------------------------------------

    def dumps(self) -> bytes:
        """Serialise as data (msgpack `SavedModel`); refuses a model with a non-finite number."""
        saved = self._saved()
        numbers = [
            *saved.scaler_means, *saved.scaler_vars, *saved.weights, saved.intercept,
            *saved.baseline, *saved.calibration, *saved.log_loss_sums, *saved.recent_log_loss,
            *saved.drift_state,
        ]  # fmt: skip
        if not all(map(math.isfinite, numbers)):
            raise StateError(
                "the model holds a non-finite number (NaN or infinity): it is not saved"
            )
        return msgspec.msgpack.encode(saved)

    def _saved(self) -> SavedModel:
        counts, means, variances = self.scaler.counts, self.scaler.means, self.scaler.vars
        weights = self.regression._weights
        return SavedModel(
            format=MODEL_FORMAT,
            settings=repr(self.spec),
            names=list(self.names),
            scaler_counts=[counts.get(n, 0) for n in self.names],
            scaler_means=[float(means.get(n, 0.0)) for n in self.names],
            scaler_vars=[float(variances.get(n, 0.0)) for n in self.names],
            weights=[float(weights.get(n, 0.0)) for n in self.names],
            intercept=float(self.regression.intercept),
            sgd_steps=int(self.regression.optimizer.n_iterations),
            baseline=list(self.baseline),
            calibration=list(self.calibration),
            model_bins=self.model_bins,
            baseline_bins=self.baseline_bins,
            log_loss_sums=self.log_loss_sums,
            recent_log_loss=self.recent_log_loss,
            labels=self.labels,
            positives=self.positives,
            skipped=self.skipped,
            drifts=self.drifts,
            drift_state=self.drift_state,
            checkpoint_ms=self.checkpoint_ms,
            labels_stream_id=self.labels_stream_id,
            buffer=self.buffer,
            window=self.window,
            anchor=self.anchor or [],
            is_proven=self.is_proven,
            anchored_at=self.anchored_at,
        )

    @staticmethod
    def loads(raw: bytes, spec: ModelSpec) -> LeadModel:
        """Rebuild a saved model; one saved under other settings or formats starts afresh.

        Never unpickles: a value an older pulse pickled is ignored (with a warning).
        Raises `StateError` when the value is not a valid saved model.
        """
        if raw[:1] == b"\x80":
            log.warning("the saved model is an older pulse's pickle: not loaded, starting anew")
            return LeadModel(spec)
        try:
            saved = msgspec.msgpack.decode(raw, type=SavedModel)
        except msgspec.ValidationError as exc:
            if _format_of(raw) not in (None, MODEL_FORMAT):
                log.warning("the saved model is in another format: starting a new model")
                return LeadModel(spec)
            raise StateError(f"the saved model is not valid: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise StateError(f"the saved model is not valid msgpack: {exc}") from exc
        if saved.format != MODEL_FORMAT or saved.settings != repr(spec):
            log.warning("model settings changed: starting a new model")
            return LeadModel(spec)
        model = LeadModel(spec)
        model._restore(saved)
        return model

    def _restore(self, saved: SavedModel) -> None:
        width = len(self.names)
        problem = ""
        if saved.names != list(self.names):
            problem = "its feature names are not this model's"
        elif not all(
            len(v) == width
            for v in (saved.scaler_counts, saved.scaler_means, saved.scaler_vars, saved.weights)
        ):
            problem = f"expected {width} values per feature list"
        elif any(len(b) != _BINS for b in (*saved.model_bins, *saved.baseline_bins)) or not (
            len(saved.model_bins) == len(saved.baseline_bins) == 2
        ):
            problem = f"expected 2 histograms of {_BINS} bins each"
        elif any(
            [len(h) for h in hists] != [_BINS, _POINT_BINS]
            for hists in (saved.window, saved.anchor)
            if hists
        ):
            problem = f"expected quantile histograms of {_BINS} and {_POINT_BINS} bins"
        elif any(len(v) != n for v, n in _sized(saved)):
            problem = "a metric list has the wrong length"
        elif any(len(e[4]) != len(self.vector_names) for e in saved.buffer):
            problem = f"a buffered label does not have {len(self.vector_names)} features"
        if problem:
            raise StateError(f"the saved model is not valid: {problem}")
        columns = zip(
            self.names, saved.scaler_counts, saved.scaler_means, saved.scaler_vars, strict=True
        )
        seen = [(name, count, mean, var) for name, count, mean, var in columns if count]
        self.scaler.counts = Counter({name: count for name, count, _, _ in seen})
        self.scaler.means = defaultdict(float, {name: mean for name, _, mean, _ in seen})
        self.scaler.vars = defaultdict(float, {name: var for name, _, _, var in seen})
        if saved.sgd_steps:
            weights = dict(zip(self.names, saved.weights, strict=True))
            self.regression._weights = utils.VectorDict(weights)
        self.regression.intercept = saved.intercept
        self.regression.optimizer.n_iterations = saved.sgd_steps
        self.baseline = list(saved.baseline)
        # A model saved before the quantile map existed starts its window now.
        if saved.window:
            self.window = [list(b) for b in saved.window]
        self.anchor = [list(b) for b in saved.anchor] if saved.anchor else None
        self._cdfs = None
        self.is_proven = saved.is_proven
        self.anchored_at = saved.anchored_at
        self.calibration = list(saved.calibration)
        self.model_bins = [list(b) for b in saved.model_bins]
        self.baseline_bins = [list(b) for b in saved.baseline_bins]
        self.log_loss_sums = list(saved.log_loss_sums)
        self.recent_log_loss = list(saved.recent_log_loss)
        self.labels, self.positives = saved.labels, saved.positives
        self.skipped, self.drifts = saved.skipped, saved.drifts
        self.drift_state = list(saved.drift_state)
        self.checkpoint_ms = saved.checkpoint_ms
        self.labels_stream_id = saved.labels_stream_id
        self.buffer = [(r, c, s, b, list(f)) for r, c, s, b, f in saved.buffer]
        self._compile()
        if not all(map(math.isfinite, self._dense)) or not math.isfinite(self._intercept):
            raise StateError("the saved model is not valid: it holds a non-finite number")
