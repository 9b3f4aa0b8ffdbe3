"""The arithmetic of the model: feature squashing, prequential metrics, a one-feature
logistic regression. Pure functions over floats."""

from __future__ import annotations

import math

_CEILING = 1e9
"""Features are clipped to `[0, _CEILING]` before `log1p`: finite whatever the input."""

_BINS = 400
_LOGIT_SPAN = 10.0
"""ROC AUC histograms: `_BINS` bins of the log-odds over `[-_LOGIT_SPAN, _LOGIT_SPAN]`."""


def squash(value: float) -> float:
    """A feature as the model sees it: clipped to `[0, 1e9]`, then `log1p`.

    Negative values and NaN count as 0, infinity as the ceiling.

    >>> squash(0.0), squash(math.e - 1), squash(float("nan")), round(squash(1e200), 3)
    (0.0, 1.0, 0.0, 20.723)
    """
    return math.log1p(min(_CEILING, max(0.0, value)))


def auc_from_bins(positives: list[int], negatives: list[int]) -> float:
    """ROC AUC from histograms of scores (same bins, ascending); ties count half.

    0.5 until both classes were seen.

    >>> round(auc_from_bins([0, 1, 2], [2, 1, 0]), 4), auc_from_bins([1, 1], [1, 1])
    (0.9444, 0.5)
    """
    total_pos, total_neg = sum(positives), sum(negatives)
    if not total_pos or not total_neg:
        return 0.5
    below = area = 0.0
    for pos, neg in zip(positives, negatives, strict=True):
        area += pos * (below + neg / 2)
        below += neg
    return area / (total_pos * total_neg)


def _learn_logistic(params: list[float], u: float, bought: bool, lr: float) -> bool:
    """One SGD step of a one-feature logistic regression (intercept, slope) in `u`.

    A step that would leave a non-finite parameter is not taken: returns `False`.
    """
    gradient = _sigmoid(params[0] + params[1] * u) - bought
    intercept, slope = params[0] - lr * gradient, params[1] - lr * gradient * u
    if not (math.isfinite(intercept) and math.isfinite(slope)):
        return False
    params[0], params[1] = intercept, slope
    return True


def _log_loss(bought: bool, z: float) -> float:
    """Log loss of log-odds `z`, computed stably (softplus).

    >>> round(_log_loss(True, 0.0), 4), round(_log_loss(False, 50.0), 1)
    (0.6931, 50.0)
    """
    margin = -z if bought else z
    return margin + math.log1p(math.exp(-margin)) if margin > 0 else math.log1p(math.exp(margin))


def _bin(z: float) -> int:
    position = (z + _LOGIT_SPAN) / (2 * _LOGIT_SPAN) * _BINS
    return min(max(int(position), 0), _BINS - 1) if math.isfinite(position) else _BINS - 1


def _sigmoid(z: float) -> float:
    if z < -35:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))
