"""The arithmetic of the model: feature squashing, prequential metrics, a one-feature
logistic regression. Pure functions over floats."""

from __future__ import annotations

import bisect
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


_TIEBREAK = 0.01
"""At most this many points of the blended score come from the rule points themselves."""

_UNIFORM = 1e-3
"""Share of a uniform spread mixed into the quantile maps: strictly increasing CDFs."""


def cumulative(counts: list[int], *, to_end: bool = True) -> list[float]:
    """The CDF at the edges of a histogram's bins, strictly increasing: `_UNIFORM` of
    the mass is spread evenly over the bins, or (`to_end=False`) over those up to
    the last non-empty one, where it then ends at 1.

    >>> [round(v, 4) for v in cumulative([1, 0, 1, 0], to_end=False)]
    [0.0, 0.4998, 0.5002, 1.0]
    >>> [round(v, 4) for v in cumulative([1, 0, 1, 0])]
    [0.0, 0.4997, 0.5, 0.9997, 1.0]
    """
    last = len(counts) - 1
    if not to_end:
        last = max((i for i, n in enumerate(counts) if n), default=last)
    used, total = counts[: last + 1], sum(counts) or 1
    edges, running = [0.0], 0.0
    for n in used:
        running += (1 - _UNIFORM) * n / total + _UNIFORM / len(used)
        edges.append(running)
    edges[-1] = 1.0
    return edges


def quantile_points(z: float, z_cdf: list[float], u_cdf: list[float]) -> float:
    """The points at the quantile of the points where log-odds `z` sits among log-odds.

    `z_cdf` is the CDF of the model's log-odds over `_BINS` bins of
    `[-_LOGIT_SPAN, _LOGIT_SPAN]`, `u_cdf` that of `squash(points)` over bins of
    `_POINT_BIN_WIDTH` up to the highest seen (see `cumulative`). Strictly increasing
    in `z`, within the points seen. A contact whose probability is higher than 90 % of the contacts'
    scores the points that 90 % of them have at most.

    >>> z_cdf = cumulative([1] * _BINS)
    >>> u_cdf = cumulative([1] * 40 + [0] * 10, to_end=False)  # log1p(points) even in [0, 4]
    >>> [round(quantile_points(z, z_cdf, u_cdf), 2) for z in (-10.0, 0.0, 10.0)]
    [0.0, 6.39, 53.6]
    """
    position = min(max((z + _LOGIT_SPAN) / (2 * _LOGIT_SPAN) * _BINS, 0.0), float(_BINS))
    i = min(int(position), _BINS - 1)
    share = z_cdf[i] + (position - i) * (z_cdf[i + 1] - z_cdf[i])
    k = min(max(bisect.bisect_right(u_cdf, share) - 1, 0), len(u_cdf) - 2)
    low, high = u_cdf[k], u_cdf[k + 1]
    u = (k + min(max((share - low) / (high - low), 0.0), 1.0)) * _POINT_BIN_WIDTH
    return math.expm1(u)


def tiebreak(points: float) -> float:
    """A share of `_TIEBREAK` that grows with the rule points: orders equal probabilities.

    >>> tiebreak(0.0), tiebreak(100.0), tiebreak(1e9) < _TIEBREAK
    (0.0, 0.005, True)
    """
    points = max(points, 0.0)
    return _TIEBREAK * points / (points + 100.0)


_POINT_BINS = 128
_POINT_BIN_WIDTH = 0.1
"""`squash(points)` in bins of 0.1 over [0, 12.8] (0 to about 360,000 points)."""


def _point_bin(u: float) -> int:
    return min(max(int(u / _POINT_BIN_WIDTH), 0), _POINT_BINS - 1)


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
