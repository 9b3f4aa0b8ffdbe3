"""Identity: anonymous visitors becoming known contacts, and the traits they bring.

An event keyed by an anonymous id (`anon:<id>`) belongs to an anonymous contact.
An event of `MERGE_TYPES` that carries both a `contact_id` and an `anonymous_id`
links the two: the anonymous contact's state moves into the known one
(`merge_states`: windows, cart, session, score parts, pending timers and labels),
once, and an alias `anon:<id>` -> contact is kept in Redis so later events that
carry only the anonymous id resolve to the contact. The engine does the I/O and
makes the move part of the batch's one atomic commit; this module is pure.

The first link wins: an anonymous id already linked to a contact is never moved
to another one (a second `identify` naming another contact is counted as a
conflict), so an alias, once read, never changes and can be cached.

Traits (`pulse.traits`) merge too: the known contact's win, the anonymous one's fill
the gaps, within the same bounds.

Across worker processes (`--workers N`, `pulse.config.Part`) the anonymous id and
the contact may belong to different parts: the anonymous id's part hands its state
over in a `Handoff` record and the contact's part merges it (`pulse.handoff`);
`part_takes` says which events a part reads for that.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from typing import Literal, Protocol

import msgspec

from pulse.contact import STAGE_HISTORY_MAX, ContactState, Timer
from pulse.guardrails import is_anonymous
from pulse.labels import LABEL_SLOT
from pulse.lift import ATTRIBUTION_SLOT
from pulse.rules import Scoring
from pulse.scoring import decay_factor
from pulse.traits import merge_traits
from pulse.windows import compact

__all__ = [
    "MAX_TIMERS",
    "MERGE_TYPES",
    "Alias",
    "Handoff",
    "anonymous_key",
    "decode_alias",
    "encode_alias",
    "handoff_token",
    "is_anonymous",
    "merge_key",
    "merge_states",
    "part_takes",
]

MERGE_TYPES = frozenset({"identify", "signup", "alias", "login"})
"""Event types that link their `anonymous_id` to their `contact_id`."""
TRAIT_TYPES = MERGE_TYPES
"""Event types whose props (or `props.traits`) carry contact traits."""
MAX_TIMERS = 64
"""Pending timers a merged state keeps (the earliest); a contact absorbing many
anonymous ids stays bounded."""
_DEDUPE_IDS = 16  # `journey.DEDUPE_IDS` (journey imports this module)


class Alias(msgspec.Struct, frozen=True, gc=False):
    """Where an anonymous id resolves: the contact, and the partition that linked them."""

    contact: str
    partition: str


class Handoff(msgspec.Struct, frozen=True, gc=False):
    """What an anonymous id's part hands the contact's part at an identify across parts.

    `moved`: the anonymous state (`state`) moves into the contact; `linked`: the
    link is made (or was already, to this contact) with no state to move; `conflict`:
    the id was linked to another contact before (the first link wins).
    """

    outcome: Literal["moved", "linked", "conflict"]
    state: ContactState | None = None


class Owner(Protocol):
    """What owns a share of the contacts (`pulse.config.Part`)."""

    def owns(self, key: str) -> bool: ...


def part_takes(part: Owner, event_type: str, key: str, contact_id: str | None,
               anonymous_id: str | None) -> bool:  # fmt: skip
    """Whether a worker process's part reads an event (else it only moves its watermark).

    Its own contacts' events; every anonymous event (it may resolve to one of this
    part's contacts, adopted at an identify); and an identify linking an anonymous id
    of this part to another part's contact (this part hands the state over).

    >>> from pulse.config import Part
    >>> part_takes(Part(1, 2), "page_view", "c1", "c1", None)
    True
    >>> part_takes(Part(0, 2), "page_view", "c1", "c1", None)
    False
    >>> part_takes(Part(0, 2), "page_view", "anon:z", None, "z")
    True
    """
    if part.owns(key):
        return True
    if anonymous_id is None:
        return False
    if contact_id is None:
        return True
    return event_type in MERGE_TYPES and part.owns(anonymous_key(anonymous_id))


def handoff_token(contact: str, ts_ms: int, stream: str, offset: int) -> str:
    """Names one identify's hand-off: every part reads the same input, so every part
    names it alike (contact, event time and where it was read).

    >>> token = handoff_token("c1", 5, "f", 0)
    >>> token == handoff_token("c1", 5, "f", 0) != handoff_token("c1", 5, "f", 1)
    True
    """
    text = f"{contact}\x1f{ts_ms}\x1f{stream}\x1f{offset}"
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def anonymous_key(anonymous_id: str) -> str:
    """The contact key of an anonymous id.

    >>> anonymous_key("a1")
    'anon:a1'
    """
    return "anon:" + anonymous_id


def merge_key(event_type: str, contact_id: str | None, anonymous_id: str | None) -> str | None:
    """The anonymous key an event links to its contact, if it links one.

    >>> merge_key("identify", "c1", "a1"), merge_key("page_view", "c1", "a1")
    ('anon:a1', None)
    """
    if event_type in MERGE_TYPES and contact_id is not None and anonymous_id is not None:
        return anonymous_key(anonymous_id)
    return None


def encode_alias(alias: Alias) -> str:
    """An alias as Redis keeps it (ids hold no control characters, so `\\x1f` separates).

    >>> decode_alias(encode_alias(Alias("c1", "p0")))
    Alias(contact='c1', partition='p0')
    """
    return f"{alias.contact}\x1f{alias.partition}"


def decode_alias(raw: bytes | str) -> Alias:
    """The alias `encode_alias` wrote."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    contact, _, partition = text.partition("\x1f")
    return Alias(contact, partition)


def merge_states(
    into: ContactState,
    anon: ContactState,
    scoring: Scoring,
    skipped: Counter[str] | None = None,
) -> None:
    """Move an anonymous contact's state into a known contact's, in place.

    Counts and windows add up, score parts decay to a common time and add up
    (within each rule's cap), an open cart joins the contact's (the contact's cart
    episode, if it has one, carries on, and the anonymous cart's reminder with it),
    the newer session carries on, timers and pending labels join, traits fill the
    contact's gaps (custom traits past the cap are counted in `skipped` as
    `traits_over_cap`). Merging an empty state changes nothing.

    >>> known, anon = ContactState(), ContactState(last_ts=5, purchases=1, revenue=9.0)
    >>> merge_states(known, anon, Scoring()); known.purchases, known.revenue, known.last_ts
    (1, 9.0, 5)
    """
    if not anon.last_ts:
        return
    is_new = not into.last_ts
    now = max(into.last_ts, anon.last_ts)
    into.first_ts = min((t for t in (into.first_ts, anon.first_ts) if t), default=0)
    into.last_ts = now
    # Both rings of id fingerprints, the anonymous one's first (it is usually older).
    into.recent_ids = [*anon.recent_ids, *into.recent_ids][-_DEDUPE_IDS:]
    for type_, buckets in anon.counts.items():
        into.counts[type_] = _merge_buckets(into.counts.get(type_, []), buckets, now)
    into.premium_views = _merge_buckets(into.premium_views, anon.premium_views, now)
    into.session_starts = _merge_buckets(into.session_starts, anon.session_starts, now)
    _merge_points(into, anon, scoring)
    into.purchases += anon.purchases
    into.revenue += anon.revenue
    episode_map = _merge_cart(into, anon)
    for type_, ts in anon.last_cancel_ts.items():
        into.last_cancel_ts[type_] = max(into.last_cancel_ts.get(type_, 0), ts)
    if anon.last_active_ts > into.last_active_ts:
        into.session_start, into.session_id = anon.session_start, anon.session_id
        into.session_views = dict(anon.session_views)
    into.last_active_ts = max(into.last_active_ts, anon.last_active_ts)
    into.signup_ts = min((t for t in (into.signup_ts, anon.signup_ts) if t), default=0)
    history = sorted(set(into.stage_history) | set(anon.stage_history))
    into.stage_history = history[-STAGE_HISTORY_MAX:]
    into.welcomed = into.welcomed or anon.welcomed
    for name, episode in anon.fired.items():
        into.fired.setdefault(name, episode)
    # Open goal windows move too, so the known contact's purchase converts them; each
    # side is within the cap, so the union stays bounded (no new one opens past the cap).
    into.attributions = sorted(into.attributions + anon.attributions, key=lambda a: a.due_ms)
    _merge_timers(into, anon, episode_map)
    keep = max(len(into.pending), len(anon.pending))
    into.pending = sorted(into.pending + anon.pending, key=lambda v: v[0])[-keep:] if keep else []
    for channel, fact in anon.consent.items():
        mine = into.consent.get(channel)
        if mine is None or mine.ts_ms < fact.ts_ms:
            into.consent[channel] = fact
    for name, ts in anon.last_sent.items():
        into.last_sent[name] = max(into.last_sent.get(name, ts), ts)
    for name, ts in anon.sequence_starts.items():  # re-entry counts from the newest start
        into.sequence_starts[name] = max(into.sequence_starts.get(name, ts), ts)
    for channel, times in anon.sends.items():
        mine_times = into.sends.setdefault(channel, [])
        keep_sends = max(len(mine_times), len(times))
        for t in times:
            bisect.insort(mine_times, t)
        del mine_times[:-keep_sends]
    refused = merge_traits(into, anon)
    if refused and skipped is not None:
        skipped["traits_over_cap"] += refused
    if is_new:
        into.stage, into.lost = anon.stage, anon.lost
        into.sales_ready_armed, into.model_p = anon.sales_ready_armed, anon.model_p
        into.points_total = anon.points_total


def _merge_buckets(mine: list[int], theirs: list[int], now_ms: int) -> list[int]:
    """Two window bucket lists as one (`compact` sums buckets that share a start)."""
    if not theirs:
        return mine
    return compact(mine + theirs, now_ms)


def _merge_points(into: ContactState, anon: ContactState, scoring: Scoring) -> None:
    at = max(into.points_ts, anon.points_ts)
    half_life = scoring.half_life.ms
    caps = {rule.name: rule.cap for rule in scoring.rules}
    mine = decay_factor(at - into.points_ts, half_life)
    theirs = decay_factor(at - anon.points_ts, half_life)
    merged = {name: value * mine for name, value in into.points.items()}
    for name, value in anon.points.items():
        total = merged.get(name, 0.0) + value * theirs
        cap = caps.get(name)
        merged[name] = min(total, cap) if cap is not None else total
    into.points, into.points_ts = merged, at


def _merge_cart(into: ContactState, anon: ContactState) -> dict[str, str]:
    """Join the carts; returns anonymous episodes renamed to the contact's."""
    if not anon.cart:
        return {}
    if not into.cart:
        into.cart = {p: list(item) for p, item in anon.cart.items()}
        into.cart_episode, into.cart_opened_ts = anon.cart_episode, anon.cart_opened_ts
        return {}
    for product, (quantity, price) in anon.cart.items():
        item = into.cart.setdefault(product, [0.0, price])
        item[0] += quantity
    return {anon.cart_episode: into.cart_episode}


def _merge_timers(into: ContactState, anon: ContactState, episodes: dict[str, str]) -> None:
    for slot, timer in anon.timers.items():
        if timer.episode in episodes:
            timer = Timer(timer.due_ms, episodes[timer.episode], timer.trigger)
        mine = into.timers.get(slot)
        if mine is None:
            into.timers[slot] = timer
        elif slot in (LABEL_SLOT, ATTRIBUTION_SLOT):
            # The oldest pending vector's label horizon, and the oldest goal window's end,
            # come first.
            into.timers[slot] = mine if mine.due_ms <= timer.due_ms else timer
        elif timer.due_ms > mine.due_ms:
            # The later arming wins, as a newer add re-arms a reminder.
            into.timers[slot] = Timer(timer.due_ms, mine.episode, mine.trigger)
    if len(into.timers) > MAX_TIMERS:
        earliest = sorted(into.timers.items(), key=lambda item: item[1].due_ms)[:MAX_TIMERS]
        into.timers = dict(earliest)
