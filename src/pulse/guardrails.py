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
4. `suppressed`, `cooldown`: the same trigger was sent to the contact too recently
   (a channel fallback, `pulse.channels`, is the same message: no cooldown applies);
5. `suppressed`, `excluded`: a trigger of one of its exclusion groups with a priority
   at least its own was sent within the group's window (`pulse.exclusion`; the
   winner is `Verdict.by`);
6. `suppressed`, `frequency_cap`: a cap on the channel, or on `all` channels, per
   rolling window or per local calendar day, is reached (`pulse.caps`);
7. `held_out`: the contact is in the trigger's control group (`is_held_out`, decided
   by `pulse.experiments`); after the suppressions, so a trigger that could not have
   been sent is no experiment exposure, and before quiet hours, which only delay;
8. `deferred` until the end of quiet hours in the contact's time zone
   (`pulse.localtime`);
9. otherwise `sent`.

All of it is event time and pure: consent facts (`apply_consent`) and send
history (`record_send`) live in the contact's state, each bounded, so a replay
decides exactly what the live run decided; the suppression list is the one outside
fact, read as it is when the batch runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import TYPE_CHECKING

import msgspec

from pulse import caps, exclusion
from pulse.contact import Consent, ContactState
from pulse.events import Event
from pulse.exclusion import Rivals
from pulse.localtime import deferral_ms, parse_clock
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
    "has_address",
    "is_anonymous",
    "record_send",
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
    by: str | None = None
    """The trigger that won, for one suppressed as `excluded`."""


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
    rivals: Rivals = (),
    is_fallback: bool = False,
) -> Verdict:
    """The decision for a trigger firing at `ts_ms` (see the module docstring).

    `rivals` are the triggers that exclude this one (`pulse.exclusion.rivals_of`);
    `is_fallback`: it is a channel fallback of a trigger already sent, or a later step of
    its sequence (no cooldown).
    """
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
    is_cooling = cooldown is not None and last is not None and ts_ms - last < cooldown.ms
    if is_cooling and not is_fallback:
        return Verdict("suppressed", "cooldown")
    winner = exclusion.excluded_by(state, rivals, ts_ms) if rivals else None
    if winner is not None:
        return Verdict("suppressed", "excluded", by=winner)
    if channel is None:
        return _HELD_OUT if is_held_out else _SENT
    if caps.is_capped(state, channel, channel not in NON_MESSAGE_CHANNELS, ts_ms, rules):
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
    """Remember a sent (or deferred, at its send time) message, as much as the cooldowns,
    exclusion groups and caps need.

    >>> from pulse.rules import FrequencyCap, Guardrails
    >>> rules = Guardrails(frequency_caps=[FrequencyCap(channel="email", max=2)])
    >>> state = ContactState()
    >>> for t in (5, 1, 9): record_send(state, "welcome", "email", t, rules)
    >>> state.sends
    {'email': [5, 9]}
    """
    if trigger in rules.cooldowns or exclusion.is_grouped(trigger, rules):
        state.last_sent[trigger] = max(state.last_sent.get(trigger, at_ms), at_ms)
    if channel is not None:
        caps.record(state, channel, channel not in NON_MESSAGE_CHANNELS, at_ms, rules)
