"""Feature extraction: the vector the model sees, computed from a contact's state."""

from __future__ import annotations

from pulse import windows
from pulse.contact import ContactState
from pulse.features import FEATURE_NAMES, extract_features

HOUR = 3_600_000
DAY = 24 * HOUR
NOW = 1_767_607_200_000


def feature(vector: list[float], name: str) -> float:
    return vector[FEATURE_NAMES.index(name)]


def test_window_counts_split_events_by_age() -> None:
    state = ContactState()
    buckets = state.counts.setdefault("product_view", [])
    for ts in (NOW - 10 * 60_000, NOW - 5 * HOUR, NOW - 3 * DAY, NOW - 20 * DAY):
        windows.add(buckets, ts)
    x = extract_features(state, NOW, NOW)
    assert feature(x, "product_view_1h") == 1
    assert feature(x, "product_view_24h") == 2
    assert feature(x, "product_view_7d") == 3
    assert feature(x, "product_view_30d") == 4
    assert feature(x, "add_to_cart_30d") == 0


def test_cart_recency_purchases_and_stage_are_features() -> None:
    state = ContactState(
        cart={"p1": [2.0, 10.0], "p2": [1.0, 5.5]},
        cart_opened_ts=NOW - 2 * HOUR,
        purchases=3,
        revenue=99.0,
        signup_ts=NOW - 10 * DAY,
        first_ts=NOW - 40 * DAY,
        stage="loyal",
    )
    x = extract_features(state, NOW, NOW - 36 * HOUR)
    assert feature(x, "cart_value") == 25.5
    assert feature(x, "cart_items") == 2
    assert feature(x, "cart_age_h") == 2.0
    assert feature(x, "recency_h") == 36.0
    assert feature(x, "purchases") == 3
    assert feature(x, "signed_up") == 1
    assert feature(x, "days_since_signup") == 10.0
    assert feature(x, "tenure_days") == 40.0
    assert feature(x, "stage_loyal") == 1
    assert sum(feature(x, f"stage_{s}") for s in ("awareness", "decision", "lost")) == 0


def test_new_contact_has_no_recency_and_no_cart_age() -> None:
    x = extract_features(ContactState(), NOW, 0)
    assert feature(x, "recency_h") == 0
    assert feature(x, "cart_age_h") == 0
    assert feature(x, "stage_awareness") == 1
