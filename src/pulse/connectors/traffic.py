"""Dense traffic with hot contacts: the shape that shows whether cost grows with a contact's rate.

Real sites have bots, crawlers, load tests and shared kiosks: one contact can send
tens of thousands of events an hour. This shape draws every event's contact from a
Zipf law whose head (contact `c1`) sends `hot_share` of all events, at a steady
`rate_per_s` events per second of event time, with an e-commerce mix of types
(views, searches, carts, checkouts, purchases, email engagement).

>>> rows = hot_rows(contacts=1000, events=10_000, start_ms=0, rate_per_s=200,
...                 hot_share=0.14, seed=7, pick_product=lambda rng: 0)
>>> len(rows), rows[1][0] - rows[0][0]
(10000, 5)
>>> 0.12 < sum(1 for r in rows if r[1] == 0) / len(rows) < 0.16
True
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from random import Random
from typing import Any

__all__ = ["hot_rows", "zipf_exponent"]

_TYPES: tuple[tuple[str, float], ...] = (
    ("page_view", 30.0), ("product_view", 34.0), ("search", 8.0), ("add_to_cart", 8.0),
    ("cart_view", 4.0), ("remove_from_cart", 1.0), ("checkout_started", 3.0),
    ("purchase", 1.5), ("email_open", 3.0), ("email_click", 1.5), ("login", 2.0),
    ("signup", 0.2), ("form_submit", 0.3),
)  # fmt: skip
_TYPE_NAMES = [name for name, _ in _TYPES]
_TYPE_CUM = list(itertools.accumulate(weight for _, weight in _TYPES))


def zipf_exponent(contacts: int, hot_share: float) -> float:
    """The Zipf exponent `s` at which the first of `contacts` gets `hot_share` of the mass.

    >>> round(zipf_exponent(50_000, 0.14), 2)
    1.1
    """
    if contacts <= 1:
        return 0.0
    low, high = 0.0, 8.0
    for _ in range(60):
        s = (low + high) / 2
        head = 1.0 / sum((rank + 1) ** -s for rank in range(contacts))
        low, high = (s, high) if head < hot_share else (low, s)
    return (low + high) / 2


def hot_rows(
    *,
    contacts: int,
    events: int,
    start_ms: int,
    rate_per_s: float,
    hot_share: float,
    seed: int,
    pick_product: Callable[[Random], int],
) -> list[tuple[int, int, str, dict[str, Any]]]:
    """`events` rows `(ts_ms, contact index, type, props)`, one every `1000/rate_per_s` ms."""
    rng = Random(seed)
    exponent = zipf_exponent(contacts, hot_share)
    cum = list(itertools.accumulate((rank + 1) ** -exponent for rank in range(contacts)))
    total, type_total = cum[-1], _TYPE_CUM[-1]
    step_ms = 1000.0 / rate_per_s
    rows: list[tuple[int, int, str, dict[str, Any]]] = []
    orders = 0
    for n in range(events):
        ci = min(bisect.bisect_right(cum, rng.random() * total), contacts - 1)
        type_ = _TYPE_NAMES[bisect.bisect_right(_TYPE_CUM, rng.random() * type_total)]
        props: dict[str, Any] = {}
        if type_ in ("product_view", "add_to_cart", "remove_from_cart"):
            product = pick_product(rng)
            props = {"product_id": f"p{product}", "price": round(5 + product % 97 * 1.5, 2)}
            if type_ == "add_to_cart":
                props["quantity"] = 1
        elif type_ == "purchase":
            orders += 1
            props = {"order_id": f"o{seed}-{orders}", "revenue": round(20 + rng.random() * 80, 2)}
        rows.append((start_ms + int(n * step_ms), ci, type_, props))
    return rows
