"""`anniversary`: the contact's birthday, or the anniversary of its sign-up, every year.

The date comes from the contact's traits (`birthday: YYYY-MM-DD`, `signed_up_at`) or
its `signup` event; the trigger fires at `at` on that day in the contact's time zone
(trait `timezone`, else UTC), as an event-time timer: armed on the first event after
the date is known, re-armed for the next year when it fires, one timer per contact.
A 29 February falls on 28 February in other years.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from pulse.contact import Timer
from pulse.localtime import parse_clock, zone
from pulse.triggers.base import CheckContext, Finding, Kind, Step, TimerReason, TriggerSpecBase
from pulse.triggers.output import iso_ms

if TYPE_CHECKING:
    from pulse.contact import ContactState
    from pulse.events import Event

__all__ = ["KIND", "Anniversary", "AnniversaryKind", "AnniversaryReason", "next_occurrence_ms"]

_UTC = ZoneInfo("UTC")


class Anniversary(TriggerSpecBase, frozen=True, tag="anniversary"):
    """The contact's birthday or sign-up anniversary, every year, at `at` local time."""

    of: Literal["birthday", "signup"] = "birthday"
    """Whose date: the trait `birthday`, or the sign-up (trait `signed_up_at`, else the
    first `signup` event)."""
    at: str = "09:00"
    """Local time of day (`HH:MM`, the contact's time zone) it fires at."""


class AnniversaryReason(TimerReason, kw_only=True):
    """Which date it is (`armed_by` is the event that armed it)."""

    of: str
    date: str
    """The contact's date (`YYYY-MM-DD`)."""
    years: int
    """Years since the date (the age for a birthday)."""


def _date_of(spec: Anniversary, state: ContactState) -> tuple[int, int, int] | None:
    """(year, month, day) of the contact's date, when known."""
    if spec.of == "birthday":
        if not state.birthday:
            return None  # checked first: this runs for every event of a contact without one
        try:
            year, month, day = (int(p) for p in state.birthday.split("-"))
        except ValueError:
            return None
        return year, month, day
    since = state.signed_up_at or state.signup_ts
    if not since:
        return None
    when = datetime.fromtimestamp(since / 1000, _UTC)
    return when.year, when.month, when.day


def next_occurrence_ms(
    date: tuple[int, int, int], after_ms: int, minute: int, tz: ZoneInfo
) -> tuple[int, int]:
    """The first anniversary of `date` at `minute` local time after `after_ms`, and its year.

    >>> utc = ZoneInfo("UTC")
    >>> next_occurrence_ms((1990, 2, 29), 1767225600000, 540, utc)  # from 2026-01-01
    (1772269200000, 2026)
    >>> iso_ms(1772269200000)
    '2026-02-28T09:00:00.000Z'
    """
    base_year, month, day = date
    year = max(base_year + 1, datetime.fromtimestamp(after_ms / 1000, tz).year)
    while True:
        on = day
        if month == 2 and day == 29 and not _is_leap(year):
            on = 28
        local = datetime(year, month, on, minute // 60, minute % 60, tzinfo=tz)
        ms = int(local.timestamp() * 1000)
        if ms > after_ms:
            return ms, year
        year += 1


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


class AnniversaryKind(Kind[Anniversary]):
    """Armed by any event once the date is known; fires and re-arms for the next year."""

    name = "anniversary"
    spec_type = Anniversary
    reason_type = AnniversaryReason

    def after_types(self, spec: Anniversary) -> Collection[str] | None:
        return None

    def after_scoring(
        self, step: Step, spec: Anniversary, state: ContactState, event: Event
    ) -> None:
        if spec.name not in state.timers:
            self._arm(spec, state, event.ts_ms, event.event_id)

    def _arm(self, spec: Anniversary, state: ContactState, after_ms: int, episode: str) -> None:
        date = _date_of(spec, state)
        if date is None:
            return
        tz = zone(state.timezone) if state.timezone else None
        due, _ = next_occurrence_ms(date, after_ms, parse_clock(spec.at), tz or _UTC)
        state.timers[spec.name] = Timer(due, episode, spec.name)

    def fire(
        self,
        step: Step,
        spec: Anniversary,
        state: ContactState,
        key: str,
        timer: Timer,
        slot: str,
    ) -> None:
        date = _date_of(spec, state)
        if date is None:
            return  # the date was removed since: nothing to celebrate, nothing re-armed
        year = datetime.fromtimestamp(timer.due_ms / 1000, _UTC).year
        reason = AnniversaryReason(
            armed_by=timer.episode,
            due=iso_ms(timer.due_ms),
            of=spec.of,
            date=f"{date[0]:04d}-{date[1]:02d}-{date[2]:02d}",
            years=year - date[0],
        )
        step.emit(state, key, spec, timer.due_ms, f"{spec.of}-{year}", reason)
        self._arm(spec, state, timer.due_ms, timer.episode)

    def check(self, spec: Anniversary, context: CheckContext) -> Iterator[Finding]:
        try:
            parse_clock(spec.at)
        except ValueError as exc:
            yield Finding(str(exc), ".at")


KIND = AnniversaryKind()
