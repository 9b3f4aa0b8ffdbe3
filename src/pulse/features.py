"""Model features: a fixed-order numeric vector computed from a contact's state.

Features are computed once per scored event from the state the batch already
holds (no extra Redis work). Counts stay integers where they are integers, so
the vectors stored for delayed labels pack into a few dozen bytes of msgpack.
"""

from __future__ import annotations

import math

from pulse import windows
from pulse.contact import STAGES, ContactState

__all__ = ["COUNTED_TYPES", "FEATURE_NAMES", "extract_features"]

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
    *(f"stage_{s}" for s in STAGES),
)
"""Every feature, in vector order."""

_STAGE_INDEX = {stage: i for i, stage in enumerate(STAGES)}


def extract_features(state: ContactState, now_ms: int, previous_active_ms: int) -> list[float]:
    """The feature vector of a contact at `now_ms`, in `FEATURE_NAMES` order.

    `previous_active_ms` is the contact's activity before the event being scored,
    so recency measures the gap the event closed.

    >>> x = extract_features(ContactState(), 0, 0); len(x) == len(FEATURE_NAMES)
    True
    """
    vector: list[float] = []
    zeros = [0] * len(_WINDOWS)
    for type_ in COUNTED_TYPES:
        buckets = state.counts.get(type_)
        vector.extend(windows.count_all(buckets, now_ms) if buckets else zeros)
    thirty_days = windows.WINDOWS_MS["30d"]
    vector.append(windows.count(state.premium_views, now_ms, thirty_days))
    vector.append(windows.count(state.session_starts, now_ms, windows.WINDOWS_MS["7d"]))
    vector.append(windows.count(state.session_starts, now_ms, thirty_days))
    recency = (now_ms - previous_active_ms) / _HOUR_MS if previous_active_ms else 0.0
    vector.append(round(min(recency, 24 * 90), 1))
    vector.append(round(state.cart_value(), 2))
    vector.append(len(state.cart))
    cart_age = (now_ms - state.cart_opened_ts) / _HOUR_MS if state.cart else 0.0
    vector.append(round(max(cart_age, 0.0), 1))
    vector.append(state.purchases)
    vector.append(round(math.log1p(max(state.revenue, 0.0)), 3))
    vector.append(1 if state.signup_ts else 0)
    signup_days = (now_ms - state.signup_ts) / _DAY_MS if state.signup_ts else 0.0
    vector.append(round(max(signup_days, 0.0), 1))
    tenure = (now_ms - state.first_ts) / _DAY_MS if state.first_ts else 0.0
    vector.append(round(max(tenure, 0.0), 1))
    stage = [0] * len(STAGES)
    stage[_STAGE_INDEX.get(state.stage, 0)] = 1
    vector.extend(stage)
    return vector
