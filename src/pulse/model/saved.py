"""The model as data: the versioned msgpack `SavedModel` written to Redis, never code."""

from __future__ import annotations

from typing import Any

import msgspec

MODEL_FORMAT = 1
"""Version of `SavedModel`; a saved model in another format is not loaded."""


class SavedModel(msgspec.Struct, array_like=True, frozen=True):
    """The model as stored in Redis (`pulse:model`): numbers and names only."""

    format: int
    settings: str
    """The `ModelSpec` it was trained under; another spec starts a new model."""
    names: list[str]
    scaler_counts: list[int]
    scaler_means: list[float]
    scaler_vars: list[float]
    weights: list[float]
    intercept: float
    sgd_steps: int
    baseline: list[float]
    """The points baseline: intercept and slope over `squash(points)`."""
    calibration: list[float]
    """Platt scaling of the model's log-odds: intercept and slope."""
    model_bins: list[list[int]]
    """Prequential score histograms of the model: positives, negatives."""
    baseline_bins: list[list[int]]
    log_loss_sums: list[float]
    """Sum of prequential log loss: model, baseline."""
    recent_log_loss: list[float]
    """Exponentially weighted prequential log loss: model, baseline."""
    labels: int
    positives: int
    skipped: int
    drifts: int
    drift_state: list[float]
    """Page-Hinkley: mean, cumulative sum, its minimum."""
    checkpoint_ms: int
    labels_stream_id: str
    buffer: list[tuple[int, str, int, bool, list[float]]]
    window: list[list[int]] = []
    """Histograms of log-odds and `squash(points)` since the last anchor."""
    anchor: list[list[int]] = []
    """The window as it was at `anchored_at` labels: maps probabilities to points."""
    anchored_at: int = 0
    is_proven: bool = False
    """Whether the model was in the score (the gate has hysteresis: see `LeadModel`)."""
    """Labels learned when `anchor` was taken (empty and 0 in models saved before it)."""


def _format_of(raw: bytes) -> int | None:
    """The `format` field of a saved model written by any version, if readable."""
    try:
        head = msgspec.msgpack.decode(raw, type=list[Any])
    except msgspec.MsgspecError:
        return None
    return head[0] if head and isinstance(head[0], int) else None


def _sized(saved: SavedModel) -> list[tuple[list[float], int]]:
    return [
        (saved.baseline, 2),
        (saved.calibration, 2),
        (saved.log_loss_sums, 2),
        (saved.recent_log_loss, 2),
        (saved.drift_state, 3),
    ]
