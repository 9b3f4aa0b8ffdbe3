"""Delayed labels: feature vectors kept per contact until a purchase or the horizon decides.

A vector is sampled when a contact is scored (at most one per `sample_every`,
at most `max_pending` per contact, so state stays small). A purchase within
the horizon turns every pending vector into a positive example; the horizon
passing turns the oldest into a negative one. The horizon runs on the same
event-time timer wheel as the triggers, in the timer slot `LABEL_SLOT`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pulse.contact import ContactState, Timer
from pulse.features import FEATURE_NAMES

if TYPE_CHECKING:  # annotations only: the state seam imports this module, not the model
    from pulse.model import LeadModel
    from pulse.rules import ModelSpec

__all__ = ["LABEL_SLOT", "resolve_expired", "resolve_purchase", "sample_vector"]

LABEL_SLOT = "label"


def sample_vector(state: ContactState, ts_ms: int, features: list[float], spec: ModelSpec) -> None:
    """Keep the vector for a delayed label if the sampling budget allows."""
    pending = state.pending
    if len(pending) >= spec.max_pending:
        return
    if pending and ts_ms - pending[-1][0] < spec.sample_every.ms:
        return
    # Kept sparse, `[scored_at, index, value, ...]` over the non-zero features: most
    # window counts are zero, and this is the largest part of a contact's state.
    sparse: list[int | float] = [ts_ms]
    for index, value in enumerate(features):
        if value:
            sparse += (index, value)
    pending.append(sparse)
    _arm(state, spec)


def resolve_purchase(state: ContactState, key: str, ts_ms: int, model: LeadModel) -> None:
    """A purchase: every pending vector scored before it becomes a positive example."""
    horizon = model.spec.horizon.ms
    kept = []
    for vector in state.pending:
        scored_at = int(vector[0])
        if scored_at <= ts_ms <= scored_at + horizon:
            model.add_example((ts_ms, key, scored_at, True, _dense(vector)))
        elif ts_ms < scored_at:
            kept.append(vector)  # scored after this (out-of-order) purchase: still open
    state.pending = kept
    _arm(state, model.spec)


def resolve_expired(state: ContactState, key: str, until_ms: int, model: LeadModel) -> None:
    """The horizon passed: pending vectors older than it become negative examples."""
    horizon = model.spec.horizon.ms
    kept = []
    for vector in state.pending:
        scored_at = int(vector[0])
        if scored_at + horizon <= until_ms:
            model.add_example((scored_at + horizon, key, scored_at, False, _dense(vector)))
        else:
            kept.append(vector)
    state.pending = kept
    _arm(state, model.spec)


def _dense(vector: list[int | float]) -> list[float]:
    """The full feature vector from its kept sparse form."""
    features = [0.0] * len(FEATURE_NAMES)
    for i in range(1, len(vector), 2):
        features[int(vector[i])] = vector[i + 1]
    return features


def _arm(state: ContactState, spec: ModelSpec) -> None:
    if state.pending:
        due = int(state.pending[0][0]) + spec.horizon.ms
        state.timers[LABEL_SLOT] = Timer(due, "", LABEL_SLOT)
    else:
        state.timers.pop(LABEL_SLOT, None)
