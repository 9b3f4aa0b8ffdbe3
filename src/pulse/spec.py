"""`Duration`, the type of every span of event time in a rules file, and the other
small field types a trigger's spec and the guardrails share (`CapSpan`, `ChannelOption`,
and a sequence's `SequenceStep` and `Reentry`).

The rules schema (`pulse.rules.schema`) and each trigger kind's spec
(`pulse.triggers`) are built from these, so a kind's module can declare its spec
without importing the rules package that assembles the file from it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pulse.duration import parse_duration_ms

__all__ = [
    "CALENDAR_DAY",
    "CHANNELS",
    "CHANNEL_REQUIREMENTS",
    "CapSpan",
    "ChannelOption",
    "Duration",
    "Reentry",
    "SequenceStep",
    "cap_span",
    "cap_span_field",
    "duration_field",
    "reentry",
    "reentry_field",
]

CHANNELS = ("email", "sms", "push", "web", "crm", "ads", "webhook")
"""The channels a trigger may go out on."""
CALENDAR_DAY = "day"
"""How a frequency cap's `per` names the contact's local calendar day."""


class Duration:
    """A span of event time, written `30m`, `1h30m`, `14d` or as seconds."""

    __slots__ = ("ms",)

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __repr__(self) -> str:
        return f"Duration(ms={self.ms})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.ms == self.ms

    def __hash__(self) -> int:
        return hash(self.ms)


def duration_field(text: str) -> Any:
    """A struct field defaulting to the duration `text`.

    >>> class Wait(msgspec.Struct):
    ...     after: Duration = duration_field("30m")
    >>> Wait().after
    Duration(ms=1800000)
    """
    return msgspec.field(default_factory=lambda: Duration(parse_duration_ms(text)))


class CapSpan:
    """A frequency cap's window: a rolling span of event time (`1d`, `12h`), or `day`,
    the contact's local calendar day (`is_calendar_day`, `ms` 0)."""

    __slots__ = ("is_calendar_day", "ms")

    def __init__(self, ms: int, is_calendar_day: bool = False) -> None:
        self.ms = ms
        self.is_calendar_day = is_calendar_day

    def __repr__(self) -> str:
        return "CapSpan(day)" if self.is_calendar_day else f"CapSpan(ms={self.ms})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CapSpan)
            and other.ms == self.ms
            and other.is_calendar_day == self.is_calendar_day
        )

    def __hash__(self) -> int:
        return hash((self.ms, self.is_calendar_day))


def cap_span(value: object) -> CapSpan:
    """A cap window as written: `day`, or a duration; raises `ValueError` otherwise.

    >>> cap_span("day"), cap_span("2h")
    (CapSpan(day), CapSpan(ms=7200000))
    """
    if value == CALENDAR_DAY:
        return CapSpan(0, is_calendar_day=True)
    return CapSpan(parse_duration_ms(value))


def cap_span_field(text: str) -> Any:
    """A struct field defaulting to the cap window `text`."""
    return msgspec.field(default_factory=lambda: cap_span(text))


CHANNEL_REQUIREMENTS = ("consented", "has_address")
"""What a channel option may require: consent for the channel, an address on it."""


class ChannelOption(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One entry of a trigger's `channels`: the channel, and when it is eligible."""

    channel: str
    """One of `email`, `sms`, `push`, `web`, `crm`, `ads`, `webhook`."""
    require: list[str] = []
    """`consented`: consent for the channel is not withdrawn; `has_address`: the contact
    has an address on it (see README, "Who may be messaged")."""
    engaged_within: Duration | None = None
    """The contact opened or clicked on this channel (`email_open`, `email_click`,
    `sms_click`, `push_open`) within this long before the trigger (at most 30d)."""


class Reentry:
    """When a trigger firing again may start a new sequence (see `pulse.sequences`):
    `always`, `never`, or a duration (`is_after`): once that long has passed since the
    contact's last sequence of the trigger started."""

    __slots__ = ("is_after", "is_never", "ms")

    def __init__(self, ms: int = 0, *, is_never: bool = False, is_after: bool = False) -> None:
        self.ms = ms
        self.is_never = is_never
        self.is_after = is_after

    def __repr__(self) -> str:
        if self.is_never:
            return "Reentry(never)"
        return f"Reentry(ms={self.ms})" if self.is_after else "Reentry(always)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reentry) and (other.ms, other.is_never, other.is_after) == (
            self.ms,
            self.is_never,
            self.is_after,
        )

    def __hash__(self) -> int:
        return hash((self.ms, self.is_never, self.is_after))


def reentry(value: object) -> Reentry:
    """A re-entry rule as written: `always`, `never` or a duration; raises `ValueError`.

    >>> reentry("always"), reentry("never"), reentry("30d")
    (Reentry(always), Reentry(never), Reentry(ms=2592000000))
    """
    if value == "always":
        return Reentry()
    if value == "never":
        return Reentry(is_never=True)
    return Reentry(parse_duration_ms(value), is_after=True)


def reentry_field(text: str) -> Any:
    """A struct field defaulting to the re-entry rule `text`."""
    return msgspec.field(default_factory=lambda: reentry(text))


class SequenceStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One later step of a trigger's sequence (the trigger itself is the first, "now")."""

    name: str
    """The step's name, unique in the trigger: written as the step's `reason.step`."""
    after: Duration
    """When it fires, counted from the sequence's start (the first trigger's time); each
    step later than the one before."""
    channel: str | None = None
    """The step's one channel (neither this nor `channels`: the trigger's channel rules)."""
    channels: list[str | ChannelOption] = []
    """The step's ordered channels, like a trigger's `channels` (the first eligible one)."""
