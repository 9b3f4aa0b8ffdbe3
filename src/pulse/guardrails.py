"""Guardrails: whether a trigger may message its contact now, later, or not at all.

Every trigger passes through `decide` when it fires (`Journey._emit`), and comes
out with a decision, in this order of checks:

0. `suppressed`, `suppression_list`: an operator put the contact on the suppression
   list for the trigger's channel, or for `all` (`pulse suppress`; the engine reads
   the batch's entries from Redis and sets `SUPPRESSED` while it applies the batch);
1. `suppressed`, `lost`: the contact is marked lost (marketing triggers only);
2. `suppressed`, `no_address`: the channel needs an address the contact lacks
   (see `has_address`: email, sms and push need one, `crm` a known person, `web`
   nothing);
3. `suppressed`, `unsubscribed` / `consent_withdrawn` / `hard_bounce` /
   `spam_complaint` / `no_consent`: consent for the channel is withdrawn (see
   `consent_block`);
4. `suppressed`, `cooldown`: the same trigger was sent to the contact too recently;
5. `suppressed`, `frequency_cap`: the channel's cap per rolling window is reached;
6. `held_out`: the contact is in the trigger's control group (`is_held_out`, decided
   by `pulse.experiments`); after the suppressions, so a trigger that could not have
   been sent is no experiment exposure, and before quiet hours, which only delay;
7. `deferred` until the end of quiet hours in the contact's time zone;
8. otherwise `sent`.

All of it is event time and pure: consent facts (`apply_consent`) and send
history (`record_send`) live in the contact's state, each bounded, so a replay
decides exactly what the live run decided; the suppression list is the one outside
fact, read as it is when the batch runs.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import msgspec

from pulse.contact import Consent, ContactState
from pulse.events import Event
from pulse.triggers import Decision

if TYPE_CHECKING:  # `pulse.rules` checks its guardrails section with this module's helpers
    from pulse.rules import Guardrails

__all__ = [
    "ADDRESS_CHANNELS",
    "ALL_CHANNELS",
    "CONSENT_TYPES",
    "MAX_CONSENT_CHANNELS",
    "NON_MESSAGE_CHANNELS",
    "Verdict",
    "apply_consent",
    "consent_block",
    "decide",
    "deferral_ms",
    "has_address",
    "is_anonymous",
    "parse_clock",
    "record_send",
    "zone",
]

ADDRESS_CHANNELS = frozenset({"email", "sms", "push"})
"""Channels that reach a person at an address (an email, a phone, a device)."""
NON_MESSAGE_CHANNELS = frozenset({"crm", "web"})
"""Channels that send nothing to the person (a sales hand-off, an on-site slot): an
`unsubscribe` from everything does not stop them; one naming them does."""
ALL_CHANNELS = "*"
"""The consent key of an `unsubscribe` or `consent` event that names no channel."""
CONSENT_TYPES = frozenset({"unsubscribe", "consent", "email_bounced", "spam_complaint"})
"""Event types that change a contact's consent (see `apply_consent`)."""
MAX_CONSENT_CHANNELS = 8
"""Consent entries a contact keeps; facts about further channels are counted, not kept."""
_ANONYMOUS = "anon:"


class Verdict(msgspec.Struct, frozen=True, gc=False):
    """What the guardrails decided for one trigger."""

    decision: Decision
    reason: str | None = None
    """Why a `suppressed` trigger must not be sent."""
    until_ms: int | None = None
    """When a `deferred` one may be sent."""


SUPPRESSED: ContextVar[Mapping[str, frozenset[str]]] = ContextVar(
    "SUPPRESSED", default=MappingProxyType({})
)
"""Contact -> channels the suppression list blocks (`all`: every one, channel-less
triggers too), for the batch being applied; set by the engine."""

_SENT = Verdict("sent")
_LISTED = Verdict("suppressed", "suppression_list")
_HELD_OUT = Verdict("held_out")


def is_anonymous(key: str) -> bool:
    """Whether a contact key is an anonymous id (`anon:...`) rather than a known contact.

    >>> is_anonymous("anon:x1"), is_anonymous("c42")
    (True, False)
    """
    return key.startswith(_ANONYMOUS)


def has_address(state: ContactState, key: str, channel: str) -> bool:
    """Whether `channel` can reach the contact.

    Known contacts are assumed to have an email (shops key contacts by account)
    unless `identify` traits said it is empty, and a device for push; sms needs a
    phone from traits. Anonymous contacts have only the addresses traits gave them.

    >>> has_address(ContactState(), "c1", "email"), has_address(ContactState(), "anon:a", "email")
    (True, False)
    >>> has_address(ContactState(has_email=False), "c1", "email")
    False
    >>> has_address(ContactState(), "c1", "sms"), has_address(ContactState(), "anon:a", "crm")
    (False, False)
    >>> has_address(ContactState(), "anon:a", "web"), has_address(ContactState(), "c1", "crm")
    (True, True)

    A sales hand-off (`crm`) needs a person sales can reach: a known contact, or an
    anonymous one whose traits gave an email or a phone.
    """
    is_known = not is_anonymous(key)
    if channel == "crm":
        return is_known or state.has_email is True or state.has_phone is True
    if channel not in ADDRESS_CHANNELS:
        return True
    if channel == "email":
        return state.has_email is True or (is_known and state.has_email is None)
    if channel == "sms":
        return state.has_phone is True
    return is_known  # push: a signed-in app user has a device


def consent_block(state: ContactState, channel: str, require_consent: bool = False) -> str | None:
    """Why consent stops `channel` for this contact, or None when it may be messaged.

    The newest fact wins between the channel's own entry and the all-channel one
    (which non-message channels ignore); a withdrawal wins a tie.

    >>> state = ContactState(consent={"*": Consent(False, 10, "unsubscribed")})
    >>> consent_block(state, "email"), consent_block(state, "crm")
    ('unsubscribed', None)
    >>> state.consent["email"] = Consent(True, 20, "granted")
    >>> consent_block(state, "email"), consent_block(state, "sms")
    (None, 'unsubscribed')
    >>> consent_block(ContactState(), "email", require_consent=True)
    'no_consent'
    """
    own = state.consent.get(channel)
    every = None if channel in NON_MESSAGE_CHANNELS else state.consent.get(ALL_CHANNELS)
    facts = [f for f in (own, every) if f is not None]
    if not facts:
        return "no_consent" if require_consent and channel not in NON_MESSAGE_CHANNELS else None
    newest = max(facts, key=lambda f: (f.ts_ms, not f.is_granted))
    return None if newest.is_granted else newest.reason


def apply_consent(state: ContactState, event: Event) -> str | None:
    """Record the consent fact an event of `CONSENT_TYPES` carries.

    `unsubscribe` and `consent` apply to `props.channel`, or to every channel when it
    is absent; `email_bounced` (a hard bounce) and `spam_complaint` to
    `props.channel`, default `email`. A `consent` event needs a boolean
    `props.granted`. Returns what was refused, as a counter name, or None.
    """
    props = event.props
    channel = props.get("channel")
    match event.type:
        case "unsubscribe":
            fact = Consent(False, event.ts_ms, "unsubscribed")
        case "consent":
            granted = props.get("granted")
            if not isinstance(granted, bool):
                return "consent_without_granted"
            fact = Consent(granted, event.ts_ms, "granted" if granted else "consent_withdrawn")
        case "email_bounced":
            fact, channel = Consent(False, event.ts_ms, "hard_bounce"), channel or "email"
        case "spam_complaint":
            fact, channel = Consent(False, event.ts_ms, "spam_complaint"), channel or "email"
        case _:
            return None
    key = str(channel) if channel else ALL_CHANNELS
    current = state.consent.get(key)
    if current is None and len(state.consent) >= MAX_CONSENT_CHANNELS:
        return "consent_channels_over_cap"
    if current is None or current.ts_ms <= event.ts_ms:
        state.consent[key] = fact
    return None


def decide(
    state: ContactState,
    key: str,
    trigger: str,
    channel: str | None,
    ts_ms: int,
    rules: Guardrails,
    *,
    is_marketing: bool = True,
    is_held_out: bool = False,
) -> Verdict:
    """The decision for a trigger firing at `ts_ms` (see the module docstring)."""
    listed = SUPPRESSED.get().get(key)
    if listed and ("all" in listed or channel in listed):
        return _LISTED
    if is_marketing and state.lost:
        return Verdict("suppressed", "lost")
    if channel is not None:
        if not has_address(state, key, channel):
            return Verdict("suppressed", "no_address")
        blocked = consent_block(state, channel, rules.require_consent)
        if blocked is not None:
            return Verdict("suppressed", blocked)
    cooldown = rules.cooldowns.get(trigger)
    last = state.last_sent.get(trigger)
    if cooldown is not None and last is not None and ts_ms - last < cooldown.ms:
        return Verdict("suppressed", "cooldown")
    if channel is None:
        return _HELD_OUT if is_held_out else _SENT
    sends = state.sends.get(channel, ())
    for cap in rules.frequency_caps:
        if cap.channel == channel:
            since = ts_ms - cap.per.ms
            if len(sends) - bisect.bisect_right(sends, since) >= cap.max:
                return Verdict("suppressed", "frequency_cap")
    if is_held_out:
        return _HELD_OUT
    quiet = rules.quiet_hours
    if quiet is not None and channel in quiet.channels:
        until = deferral_ms(
            ts_ms,
            state.timezone or rules.default_timezone,
            parse_clock(quiet.start),
            parse_clock(quiet.end),
        )
        if until is not None:
            return Verdict("deferred", until_ms=until)
    return _SENT


def record_send(
    state: ContactState, trigger: str, channel: str | None, at_ms: int, rules: Guardrails
) -> None:
    """Remember a sent (or deferred, at its send time) message, as much as the caps need.

    >>> from pulse.rules import FrequencyCap, Guardrails
    >>> rules = Guardrails(frequency_caps=[FrequencyCap(channel="email", max=2)])
    >>> state = ContactState()
    >>> for t in (5, 1, 9): record_send(state, "welcome", "email", t, rules)
    >>> state.sends
    {'email': [5, 9]}
    """
    if trigger in rules.cooldowns:
        state.last_sent[trigger] = max(state.last_sent.get(trigger, at_ms), at_ms)
    if channel is None:
        return
    keep = max((cap.max for cap in rules.frequency_caps if cap.channel == channel), default=0)
    if not keep:
        return
    sends = state.sends.setdefault(channel, [])
    bisect.insort(sends, at_ms)
    del sends[:-keep]


def parse_clock(text: str) -> int:
    """`HH:MM` as minutes after midnight; raises ValueError otherwise.

    >>> parse_clock("21:30")
    1290
    """
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        raise ValueError(f"expected `HH:MM`, got `{text}`")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"expected `HH:MM` between 00:00 and 23:59, got `{text}`")
    return h * 60 + m


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone `name`, or None when there is no such zone.

    >>> zone("Europe/Paris").key, zone("Mars/Olympus")
    ('Europe/Paris', None)
    """
    if not name or len(name) > 64:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):  # not found is a KeyError; a bad path, ValueError
        return None


def deferral_ms(ts_ms: int, tz_name: str, start_min: int, end_min: int) -> int | None:
    """When a message at `ts_ms` may go out if quiet hours `[start, end)` (local minutes
    after midnight, wrapping past midnight when start > end) hold it; None when they do not.

    >>> ten_pm_utc = 1767650400000  # 2026-01-05T22:00:00Z
    >>> deferral_ms(ten_pm_utc, "UTC", 21 * 60, 8 * 60)  # 2026-01-06T08:00Z
    1767686400000
    >>> deferral_ms(ten_pm_utc, "Asia/Tokyo", 21 * 60, 8 * 60) is None  # 07:00 local: quiet
    False
    >>> deferral_ms(ten_pm_utc, "America/New_York", 21 * 60, 8 * 60) is None  # 17:00 local
    True
    """
    tz = zone(tz_name) or zone("UTC")
    local = datetime.fromtimestamp(ts_ms / 1000, tz=tz)
    minute = local.hour * 60 + local.minute
    if start_min == end_min:
        return None
    if start_min < end_min:
        is_quiet = start_min <= minute < end_min
    else:
        is_quiet = minute >= start_min or minute < end_min
    if not is_quiet:
        return None
    day = local.date() if minute < end_min else local.date() + timedelta(days=1)
    opens = datetime(day.year, day.month, day.day, end_min // 60, end_min % 60, tzinfo=tz)
    return int(opens.timestamp() * 1000)
