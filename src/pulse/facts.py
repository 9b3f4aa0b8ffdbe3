"""What an event does to a contact's own facts: session, cart, orders, views, consent, traits.

Pure functions over `ContactState`, called by `pulse.journey.Journey.apply` before
the trigger kinds see the event (they read these facts: the cart an abandon
reminder is about, the views that arm a browse reminder). Bounded: a cart tracks
`MAX_CART_LINES` products, a session's views 20 products; what a cap turns away
is counted in `skipped`.
"""

from __future__ import annotations

import zlib
from collections import Counter

from pulse import guardrails, windows
from pulse.contact import ContactState
from pulse.events import Event
from pulse.traits import apply_traits

__all__ = [
    "DEDUPE_IDS",
    "MAX_CART_LINES",
    "MAX_SESSION_PRODUCTS",
    "apply_facts",
    "compact",
    "is_duplicate",
    "note_cancels",
    "track_session",
]

DEDUPE_IDS = 16
"""Producer duplicates (the same `event_id` sent twice) are caught among this many of the
contact's newest event ids. Replays after a crash are recognised by source position, not
here (see `pulse.batch.StreamPosition`)."""
MAX_CART_LINES = 50
"""Products an open cart tracks one by one; more are summed into the line `_more`."""
MAX_SESSION_PRODUCTS = 20
"""Products whose views a session counts one by one; a 21st is not tracked."""
_MORE = "_more"
_CANCELLING = ("checkout_started", "purchase", "add_to_cart")


def is_duplicate(state: ContactState, event: Event) -> bool:
    """Whether a producer sent this event twice; otherwise its id is remembered.

    The memory is a ring of fingerprints of the contact's `DEDUPE_IDS` newest
    event ids: constant work and size however busy the contact is (a producer's
    retry arrives within a few events; replays are recognised by source position).
    """
    raw_id = event.event_id.encode()
    # Two fast C checksums make a 64-bit fingerprint: collisions within a contact's
    # 16 newest ids are vanishingly rare, and it costs far less than a hash.
    digest = zlib.crc32(raw_id) | (zlib.adler32(raw_id) << 32)
    recent = state.recent_ids
    if digest in recent:
        return True
    recent.append(digest)  # newest last; the oldest leaves first
    if len(recent) > DEDUPE_IDS:
        del recent[: len(recent) - DEDUPE_IDS]
    return False


def track_session(state: ContactState, event: Event, session_gap_ms: int) -> bool:
    """Start a new session after `session_gap_ms` of inactivity; whether one started."""
    if state.session_id and event.ts_ms - state.last_active_ts <= session_gap_ms:
        return False
    state.session_id = event.event_id
    state.session_start = event.ts_ms
    state.session_views = {}
    windows.add(state.session_starts, event.ts_ms)
    return True


def apply_facts(
    state: ContactState, event: Event, premium_price: float, skipped: Counter[str]
) -> bool:
    """Apply the event to the contact's facts; False when an add to cart is refused (it
    comes before a purchase already seen: that cart was bought), so no kind sees it."""
    match event.type:
        case "add_to_cart":
            return _add_to_cart(state, event, skipped)
        case "remove_from_cart":
            _remove_from_cart(state, event)
        case "purchase":
            state.purchases += 1
            revenue = event.props.get("revenue")
            state.revenue += float(revenue) if revenue is not None else state.cart_value()
            _close_cart(state)
        case "product_view":
            _product_view(state, event, premium_price)
        case "unsubscribe" | "consent" | "email_bounced" | "spam_complaint":
            refused = guardrails.apply_consent(state, event)
            if refused is not None:
                skipped[refused] += 1
        case "identify" | "signup" | "alias" | "login":
            apply_traits(state, event.props, event.ts_ms, skipped)
        case _:
            pass
    return True


def note_cancels(state: ContactState, event: Event) -> None:
    """Remember the newest checkout, purchase and add (a late event they cancel is not
    armed) and the first signup."""
    type_, ts = event.type, event.ts_ms
    if type_ in _CANCELLING:
        state.last_cancel_ts[type_] = max(state.last_cancel_ts.get(type_, 0), ts)
    if type_ == "signup":
        state.signup_ts = state.signup_ts or ts


def _add_to_cart(state: ContactState, event: Event, skipped: Counter[str]) -> bool:
    ts = event.ts_ms
    if ts <= state.last_cancel_ts.get("purchase", 0):
        return False  # added before a purchase already seen: that cart was bought
    props = event.props
    product = str(props.get("product_id", "_"))
    quantity = float(props.get("quantity") or 1)
    price = float(props.get("price") or 0.0)
    if not state.cart:
        state.cart_episode = event.event_id
        state.cart_opened_ts = ts
    if product not in state.cart and len(state.cart) >= MAX_CART_LINES:
        # Beyond the cap one line holds the value of the rest: [1, value].
        skipped["cart_lines_merged"] += 1
        more = state.cart.setdefault(_MORE, [1.0, 0.0])
        more[1] += quantity * price
    else:
        item = state.cart.setdefault(product, [0.0, price])
        item[0] += quantity
        item[1] = price
    return True


def _remove_from_cart(state: ContactState, event: Event) -> None:
    product = str(event.props.get("product_id", "_"))
    item = state.cart.get(product)
    if item is not None:
        item[0] -= float(event.props.get("quantity") or item[0])
        if item[0] <= 0:
            del state.cart[product]
    if not state.cart:
        _close_cart(state)


def _close_cart(state: ContactState) -> None:
    state.cart = {}
    state.cart_episode = ""


def _product_view(state: ContactState, event: Event, premium_price: float) -> None:
    price = event.props.get("price")
    if price is not None and price >= premium_price:
        windows.add(state.premium_views, event.ts_ms)
    product = event.props.get("product_id")
    if product is None:
        return
    product = str(product)
    views = state.session_views.get(product, 0) + 1
    if views == 1 and len(state.session_views) >= MAX_SESSION_PRODUCTS:
        return  # bound the per-session map: this product is not tracked
    state.session_views[product] = views


def compact(state: ContactState) -> None:
    """Merge aged window buckets and drop types with no events in the last 30 days."""
    now = state.last_ts
    for type_, buckets in list(state.counts.items()):
        if windows.needs_compaction(buckets, now):
            compacted = windows.compact(buckets, now)
            if compacted:
                state.counts[type_] = compacted
            else:
                del state.counts[type_]
    for name in ("premium_views", "session_starts"):
        buckets = getattr(state, name)
        if windows.needs_compaction(buckets, now):
            setattr(state, name, windows.compact(buckets, now))
