"""Channels: which channel a trigger goes out on, and the fallback to the next one.

A trigger names its channel with `channel: email` (one channel), or with an ordered
`channels` list, each entry a channel name or `{channel, require, engaged_within}`:

    channels:
      - {channel: email, require: [consented, has_address]}
      - {channel: sms, require: [consented, has_address]}
      - push
    fallback_after: 48h
    engagement: [email_open, email_click, sms_click, push_open]

When the trigger fires, the first **eligible** entry is its channel: every
requirement holds (`consented`: consent for the channel is not withdrawn;
`has_address`: the contact has an address on it, see `pulse.guardrails`;
`engaged_within: 30d`: the contact opened or clicked on the channel within that
long, from its windowed counts). An entry with no requirement is always
eligible. None eligible: the trigger is written `suppressed`, `no_channel`, on
the first entry's channel. The guardrails then decide on the chosen channel.

**Fallback.** With `fallback_after`, a trigger that was sent (or deferred) on an
entry with a later entry behind it arms an event-time timer `fallback_after` past
its send time, in the contact's timers (slot `fallback>NAME>CHANNEL`). An event of
`engagement` on that channel (its `props.channel`, else the channel the type
belongs to: `email_open`, `email_click` -> email, `sms_click` -> sms, `push_open`
-> push; a type with neither engages with any channel) at or after the send time
cancels it. When the watermark passes it
first, the trigger fires again: a new trigger record (its own `trigger_id`) on
the next eligible entry after the one used, with `reason.fallback_of` the first
record's `trigger_id` and `reason.fallback_from` its channel. It passes the
guardrails like any trigger, but no cooldown (it is the same message), and it
opens no second goal window (lift counts the first). It may itself fall back to
the entry after it. A contact holds one pending fallback per trigger (a new send
replaces it) and at most `MAX_PENDING_FALLBACKS`; more are counted
(`fallbacks_over_cap`), as are fallbacks that find no eligible channel
(`fallback_no_channel`).

All of it reads the contact's own bounded state in event time, so replays decide
what the live run decided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from pulse import windows
from pulse.contact import ContactState, Timer
from pulse.events import Event
from pulse.guardrails import consent_block, has_address
from pulse.spec import ChannelOption, SequenceStep
from pulse.triggers import TriggerSpecBase
from pulse.triggers.base import TimerReason

__all__ = [
    "ENGAGEMENT_CHANNEL",
    "FALLBACK_SLOT",
    "MAX_PENDING_FALLBACKS",
    "FallbackReason",
    "arm_fallback",
    "cancel_on_engagement",
    "choose",
    "fallback_channel",
    "is_eligible",
    "options_of",
]

FALLBACK_SLOT = "fallback>"
"""Prefix of a pending fallback's timer slot: `fallback>NAME>CHANNEL`."""
MAX_PENDING_FALLBACKS = 4
"""Fallbacks a contact may have pending at once; more are counted, not armed."""
ENGAGEMENT_CHANNEL: dict[str, str] = {
    "email_open": "email",
    "email_click": "email",
    "sms_click": "sms",
    "push_open": "push",
}
"""The channel an engagement event type belongs to (when `props.channel` says none)."""


class FallbackReason(TimerReason, kw_only=True):
    """A trigger fired again on another channel: nothing engaged with the first send."""

    fallback_of: str
    """The `trigger_id` of the trigger this one falls back from."""
    fallback_from: str
    """The channel that trigger went out on."""


def options_of(spec: TriggerSpecBase | SequenceStep) -> tuple[ChannelOption, ...]:
    """A trigger's (or a sequence step's) channel entries: `channels`, else its one
    `channel`, else none.

    >>> from pulse.triggers import Welcome
    >>> [o.channel for o in options_of(Welcome(channel="email"))]
    ['email']
    >>> [o.channel for o in options_of(Welcome(channels=["sms", ChannelOption(channel="push")]))]
    ['sms', 'push']
    """
    if spec.channels:
        return tuple(
            ChannelOption(channel=entry) if isinstance(entry, str) else entry
            for entry in spec.channels
        )
    return () if spec.channel is None else (ChannelOption(channel=spec.channel),)


def is_eligible(
    option: ChannelOption, state: ContactState, key: str, ts_ms: int, require_consent: bool
) -> bool:
    """Whether every requirement of a channel entry holds for the contact at `ts_ms`.

    >>> sms = ChannelOption(channel="sms", require=["has_address"])
    >>> is_eligible(sms, ContactState(), "c1", 0, False)
    False
    >>> is_eligible(sms, ContactState(has_phone=True), "c1", 0, False)
    True
    """
    channel = option.channel
    for requirement in option.require:
        if requirement == "has_address" and not has_address(state, key, channel):
            return False
        if requirement == "consented" and consent_block(state, channel, require_consent):
            return False
    if option.engaged_within is not None:
        span = option.engaged_within.ms
        engaged = sum(
            windows.count(state.counts.get(type_, []), ts_ms, span)
            for type_, on in ENGAGEMENT_CHANNEL.items()
            if on == channel
        )
        if not engaged:
            return False
    return True


def choose(
    options: tuple[ChannelOption, ...],
    start: int,
    state: ContactState,
    key: str,
    ts_ms: int,
    require_consent: bool,
) -> int | None:
    """The index of the first eligible entry at or after `start`, or None."""
    for index in range(start, len(options)):
        if is_eligible(options[index], state, key, ts_ms, require_consent):
            return index
    return None


def fallback_channel(slot: str) -> str:
    """The channel a pending fallback's trigger was sent on.

    >>> fallback_channel("fallback>abandon_cart>email")
    'email'
    """
    return slot.rsplit(">", 1)[1]


def arm_fallback(
    state: ContactState,
    trigger: str,
    episode: str,
    channel: str,
    due_ms: int,
    skipped: Counter[str],
) -> None:
    """Arm the fallback of `trigger` sent on `channel`, due at `due_ms` (replacing its
    pending one); counted, not armed, past `MAX_PENDING_FALLBACKS`."""
    own = f"{FALLBACK_SLOT}{trigger}>"
    for slot in [slot for slot in state.timers if slot.startswith(own)]:
        del state.timers[slot]
    pending = sum(1 for slot in state.timers if slot.startswith(FALLBACK_SLOT))
    if pending >= MAX_PENDING_FALLBACKS:
        skipped["fallbacks_over_cap"] += 1
        return
    state.timers[own + channel] = Timer(due_ms, episode, trigger)


def cancel_on_engagement(
    state: ContactState,
    event: Event,
    engagement: Mapping[str, frozenset[str]],
    waits_ms: Mapping[str, int],
) -> None:
    """Cancel the pending fallbacks `event` engages with: its type is one of the trigger's
    `engagement`, on the channel the trigger went out on, at or after the send time
    (`due - fallback_after`)."""
    said = event.props.get("channel")
    on = said if isinstance(said, str) and said else ENGAGEMENT_CHANNEL.get(event.type)
    for slot, timer in list(state.timers.items()):
        if not slot.startswith(FALLBACK_SLOT) or event.type not in engagement.get(
            timer.trigger, ()
        ):
            continue
        if on is not None and on != fallback_channel(slot):
            continue
        if event.ts_ms >= timer.due_ms - waits_ms.get(timer.trigger, 0):
            del state.timers[slot]
