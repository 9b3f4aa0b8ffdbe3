"""Model features: a fixed-order numeric vector computed from a contact's state.

Features are computed once per scored event from the state the batch already
holds (no extra Redis work). Counts stay integers where they are integers, so
the vectors stored for delayed labels pack into a few dozen bytes of msgpack.
"""

from __future__ import annotations

import math

from pulse import windows
from pulse.contact import STAGES, ContactState

__all__ = ["COUNTED_TYPES", "FEATURE_NAMES", "POINTS_FEATURE", "extract_features"]

COUNTED_TYPES = (
    "page_view", "product_view", "search", "add_to_cart", "cart_view", "checkout_started",
    "purchase", "email_open", "email_click", "signup", "webinar_attended", "form_submit",
)  # fmt: skip
"""Event types whose windowed counts are features."""

_WINDOWS = tuple(windows.WINDOWS_MS.items())
_HOUR_MS = 3_600_000
_DAY_MS = 86_400_000

FEATURE_NAMES: tuple[str, ...] = (
    *(f"{t}_{w}" for t in COUNTED_TYPES for w, _ in _WINDOWS),
    "premium_views_30d",
    "sessions_7d",
    "sessions_30d",
    "recency_h",
    "cart_value",
    "cart_items",
    "cart_age_h",
    "purchases",
    "log_revenue",
    "signed_up",
    "days_since_signup",
    "tenure_days",
    "rule_points",
    *(f"stage_{s}" for s in STAGES),
)
"""Every feature, in vector order."""

POINTS_FEATURE = "rule_points"
"""The decayed rule points at scoring time: the model stacks on the rules' judgement."""

_STAGE_INDEX = {stage: i for i, stage in enumerate(STAGES)}
_TYPE_BASE = {type_: i * len(_WINDOWS) for i, type_ in enumerate(COUNTED_TYPES)}
_TAIL = len(COUNTED_TYPES) * len(_WINDOWS)
_STAGE_BASE = len(FEATURE_NAMES) - len(STAGES)
_WIDTH = len(FEATURE_NAMES)


def extract_features(
    state: ContactState, now_ms: int, previous_active_ms: int, points: float = 0.0
) -> list[float]:
    """The feature vector of a contact at `now_ms`, in `FEATURE_NAMES` order.

    `previous_active_ms` is the contact's activity before the event being scored,
    so recency measures the gap the event closed; `points` are the decayed rule
    points at `now_ms` (after the event). This runs for every scored event:
    it fills a zero vector at the indexes of the types the contact has, not all of them.

    >>> x = extract_features(ContactState(), 0, 0); len(x) == len(FEATURE_NAMES)
    True
    """
    vector: list[float] = [0] * _WIDTH
    for type_, buckets in state.counts.items():
        base = _TYPE_BASE.get(type_)
        if base is not None and buckets:
            vector[base : base + 4] = windows.count_all(buckets, now_ms)
    i = _TAIL
    if state.premium_views:
        vector[i] = windows.count(state.premium_views, now_ms, _THIRTY_DAYS_MS)
    if state.session_starts:
        sessions = windows.count_all(state.session_starts, now_ms)
        vector[i + 1], vector[i + 2] = sessions[2], sessions[3]
    if previous_active_ms:
        vector[i + 3] = min((now_ms - previous_active_ms) / _HOUR_MS, 24 * 90)
    if state.cart:
        vector[i + 4] = state.cart_value()
        vector[i + 5] = len(state.cart)
        vector[i + 6] = max((now_ms - state.cart_opened_ts) / _HOUR_MS, 0.0)
    if state.purchases:
        vector[i + 7] = state.purchases
        vector[i + 8] = math.log1p(max(state.revenue, 0.0))
    if state.signup_ts:
        vector[i + 9] = 1
        vector[i + 10] = max((now_ms - state.signup_ts) / _DAY_MS, 0.0)
    if state.first_ts:
        vector[i + 11] = max((now_ms - state.first_ts) / _DAY_MS, 0.0)
    if points:
        vector[i + 12] = points
    vector[_STAGE_BASE + _STAGE_INDEX.get(state.stage, 0)] = 1
    return vector


_THIRTY_DAYS_MS = windows.WINDOWS_MS["30d"]
