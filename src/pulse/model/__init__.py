"""The online lead model: a river pipeline that learns from conversions as they happen.

Labels arrive late: a feature vector stored when a contact is scored becomes a
positive example when the contact buys within the horizon, a negative one when
the horizon passes. Resolved examples are buffered and learned at event-time
checkpoints (`learn_every`), in a canonical order, so the model, and every
prediction made with it, is the same whatever the batch size and in replay or
live.

What the model sees: every feature clipped to `[0, 1e9]` then `log1p` (`squash`),
so a hostile `price: 1e200` is a large but finite number and counts are on the
scale a linear model handles; the decayed rule points are one of the features
(stacking), so the probability already holds what the points know.

Whether the model counts (`blend`): beside it, a one-feature logistic regression
on the rule points alone learns from the same labels (the *points baseline*).
Both are scored prequentially (each label predicted before it is learned). The
model's probability enters the score only once it is proven: `warmup_labels`
learned, its probability map taken, and its recent log loss below the baseline's
(with hysteresis). Then the score is a strictly increasing function of the
probability alone: the points at the same quantile among the labels' points as the
probability among their probabilities (a map fixed once it rests on 5,000 labels),
plus a tie-break under 0.01 points by the contact's points. Until then the score is
the rule points alone.

Between checkpoints the model does not change, so the scaler and weights are
folded into one coefficient per feature at each checkpoint: a prediction is a
dot product in one C-level pass, and the per-feature terms are the score's
explanation.

Persistence is data, never code: `dumps` writes a versioned msgpack `SavedModel`
(scaler statistics, weights, baseline, metric histograms, counts, the label
buffer) and `loads` rebuilds the river objects from it; a model with any
non-finite number is never written.

Read in this order: `lead` (`LeadModel`: predict, blend, learn, persist), `saved` (the
stored format), `stats` (squashing, metrics, the baseline's regression).
"""

from __future__ import annotations

from pulse.model.lead import Example, LeadModel
from pulse.model.saved import MODEL_FORMAT, SavedModel
from pulse.model.stats import auc_from_bins, squash

__all__ = ["MODEL_FORMAT", "Example", "LeadModel", "SavedModel", "auc_from_bins", "squash"]
