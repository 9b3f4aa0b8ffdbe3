"""The state pulse keeps per contact, as one compact msgpack value in Redis.

`ContactState` is everything the journey logic needs to decide the next step
for one contact: windowed counts, recency, session, cart, purchases, score
parts, stage, flags and pending timers. It is encoded `array_like` (field
order matters: only ever append new fields, with defaults) so a typical
contact costs a few hundred bytes.
"""

from __future__ import annotations

import msgspec

__all__ = [
    "STAGES",
    "STAGE_HISTORY_MAX",
    "Attribution",
    "Consent",
    "ContactState",
    "Timer",
    "decode_state",
    "encode_state",
]

STAGES = ("awareness", "consideration", "decision", "customer", "loyal", "at_risk", "lost")
"""Lifecycle stages, in journey order; `at_risk` and `lost` are set by triggers."""

STAGE_HISTORY_MAX = 10
"""Stage changes a contact keeps (`ContactState.stage_history`), newest last."""


class Timer(msgspec.Struct, array_like=True, gc=False):
    """A pending event-time timer: fires when the watermark passes `due_ms`."""

    due_ms: int
    episode: str
    """What armed it (cart episode, session and product, order id, last event id)."""
    trigger: str
    """Name of the trigger spec in the rules file."""


class Consent(msgspec.Struct, array_like=True, gc=False):
    """The newest consent fact for one channel (or `*`, every channel), in event time."""

    is_granted: bool
    ts_ms: int
    reason: str
    """Why it was withdrawn (`unsubscribed`, `consent_withdrawn`, `hard_bounce`,
    `spam_complaint`), or `granted`."""


class Attribution(msgspec.Struct, array_like=True, gc=False):
    """A trigger awaiting its goal (see `pulse.lift`): closed by the first goal event
    within its window, or by the window passing."""

    trigger: str
    variant: str
    arm: str
    """`sent` (sent or deferred) or `held_out`."""
    fired_ms: int
    due_ms: int
    """The end of the goal window: a goal event at or before it converts."""


class ContactState(msgspec.Struct, array_like=True, omit_defaults=False):
    """One contact's state. Times are event time in epoch milliseconds."""

    first_ts: int = 0
    last_ts: int = 0
    """Newest event time applied; the dedupe horizon and recency are measured from it."""
    recent_ids: list[int] = []
    """Fingerprints of the contact's newest event ids, oldest first (see
    `pulse.facts.is_duplicate`; states written before 2026-11 also hold times here, which
    match no fingerprint and leave the ring as it turns)."""
    counts: dict[str, list[int]] = {}
    """Per event type, age-graded buckets (see `pulse.windows`)."""
    points: dict[str, float] = {}
    """Decayed points per rule name, as of `points_ts`."""
    points_ts: int = 0
    purchases: int = 0
    revenue: float = 0.0
    cart: dict[str, list[float]] = {}
    """Open cart: product id -> [quantity, unit price]."""
    cart_episode: str = ""
    """Event id of the add that opened the current cart; empty when the cart is empty."""
    last_cancel_ts: dict[str, int] = {}
    """Newest time of each event type that cancels a timer (checkout, purchase, add)."""
    session_start: int = 0
    session_id: str = ""
    session_views: dict[str, int] = {}
    """Product views in the current session, per product id."""
    stage: str = "awareness"
    stage_history: list[tuple[int, str]] = []
    welcomed: bool = False
    sales_ready_armed: bool = True
    lost: bool = False
    fired: dict[str, str] = {}
    """Per trigger name, the last episode it fired for (once per episode)."""
    timers: dict[str, Timer] = {}
    """Pending timers by slot: the trigger name, `name:order_id` for per-order ones, or
    `fallback>name>channel` for a channel fallback (`pulse.channels`), or
    `sequence>name>step` for a sequence's next step (`pulse.sequences`)."""
    signup_ts: int = 0
    last_active_ts: int = 0
    """Newest contact-initiated event (sends such as `email_sent` are not activity)."""
    premium_views: list[int] = []
    """Window buckets of product views at or above the model's `premium_price`."""
    session_starts: list[int] = []
    """Window buckets of session starts."""
    cart_opened_ts: int = 0
    pending: list[list[int | float]] = []
    """Feature vectors awaiting their label, oldest first: `[scored_at_ms, index, value, ...]`
    over the non-zero features (see `pulse.labels`)."""
    model_p: float = 0.0
    """The model's last purchase probability for this contact."""
    points_total: float = 0.0
    """Decayed rule points at the last event (the score without the model part)."""
    consent: dict[str, Consent] = {}
    """Per channel (`*`: all), the newest consent fact; absent means the pack's default
    (see `pulse.guardrails`). At most `guardrails.MAX_CONSENT_CHANNELS` entries."""
    has_email: bool | None = None
    """From `identify` traits: an email is known (True), known empty (False), or unknown."""
    has_phone: bool | None = None
    timezone: str = ""
    """IANA zone from traits (quiet hours); empty means the pack's default, UTC."""
    locale: str = ""
    sends: dict[str, list[int]] = {}
    """Per channel, the event times of recent sent or deferred messages, oldest first
    (frequency caps; bounded by the largest cap)."""
    last_sent: dict[str, int] = {}
    """Per trigger name, the event time it was last sent or deferred (cooldowns)."""
    home: str = ""
    """Anonymous contacts only: the source partition their events come from (a merge
    into a known contact is done only on the same partition; see `pulse.identity`)."""
    attributions: list[Attribution] = []
    """Triggers sent or held out whose goal window is open, oldest first (at most the
    rules' `experiments.max_open`; see `pulse.lift`)."""
    birthday: str = ""
    """From traits: `YYYY-MM-DD`, or empty (see `pulse.traits`)."""
    signed_up_at: int = 0
    """From traits (`signed_up_at`, `createdAt`): epoch ms, or 0."""
    traits: dict[str, str | int | float | bool] = {}
    """Custom traits from `identify` (at most `pulse.traits.MAX_CUSTOM_TRAITS`, scalars)."""
    sequence_starts: dict[str, int] = {}
    """Per trigger name, the event time its last sequence started (re-entry; see
    `pulse.sequences`)."""

    def has_cart(self) -> bool:
        """Whether the contact holds an open cart."""
        return bool(self.cart)

    def cart_value(self) -> float:
        """Value of the open cart."""
        return sum(qty * price for qty, price in self.cart.values())

    def next_due_ms(self) -> int | None:
        """The earliest pending timer, if any."""
        return min((t.due_ms for t in self.timers.values()), default=None)


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(ContactState)


def encode_state(state: ContactState) -> bytes:
    """Serialise a contact's state for Redis.

    >>> decode_state(encode_state(ContactState(purchases=2))).purchases
    2
    """
    return _ENCODER.encode(state)


def decode_state(raw: bytes | None) -> ContactState:
    """Deserialise a contact's state; `None` (no key) is a new contact."""
    if raw is None:
        return ContactState()
    return _DECODER.decode(raw)
