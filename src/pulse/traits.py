"""Contact traits: what `identify`, `signup`, `alias` and `login` say about a contact.

Kept small and bounded in `ContactState`, never the addresses themselves:

* `email`, `phone`: whether an address is known (`has_email`, `has_phone`; an empty or
  null value: known to be none). Downstream holds the addresses; pulse does not.
* `timezone` (an IANA zone: quiet hours), `locale` (short text).
* `birthday`: a date, kept as `YYYY-MM-DD` (an ISO date-time keeps its date).
* `signed_up_at` (or Segment's `createdAt`, `created_at`): epoch ms or ISO-8601 with zone.
* `consents`: `{channel: true|false}`, applied like a `consent` event for that channel
  at the event's time (see `pulse.guardrails`).
* custom traits: any other key, at most `MAX_CUSTOM_TRAITS` of them, keys plain
  identifiers of at most `MAX_TRAIT_KEY_CHARS` characters, values scalars (text of at
  most `MAX_TRAIT_TEXT_CHARS` characters, finite numbers, booleans); a null value
  removes the trait.

What a bound turns away is counted (`traits_over_cap`, `trait_bad_key`,
`trait_bad_value`, `consent_channels_over_cap`), never silently dropped. Conditions see
the traits as `contact.traits.<name>` (`trait_view`), and a trigger spec's `traits:`
copies named ones into its output (`copy_traits`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import date, datetime
from typing import Any

from pulse.contact import Consent, ContactState
from pulse.guardrails import MAX_CONSENT_CHANNELS
from pulse.localtime import zone

__all__ = [
    "MAX_CUSTOM_TRAITS",
    "MAX_TRAIT_KEY_CHARS",
    "MAX_TRAIT_TEXT_CHARS",
    "RESERVED_TRAITS",
    "TraitValue",
    "apply_traits",
    "copy_traits",
    "is_trait_name",
    "merge_traits",
    "trait_view",
]

TraitValue = str | int | float | bool
"""A custom trait's value: scalars only."""

MAX_CUSTOM_TRAITS = 16
"""Custom traits a contact keeps; a new one past the cap is counted (`traits_over_cap`)."""
MAX_TRAIT_KEY_CHARS = 40
MAX_TRAIT_TEXT_CHARS = 200
_MAX_LOCALE_CHARS = 35
_MAX_INT = 2**63 - 1  # msgpack's signed range
_SIGNED_UP = ("signed_up_at", "createdAt", "created_at")
RESERVED_TRAITS = frozenset(
    {"email", "phone", "timezone", "locale", "birthday", "consents", "has_email", "has_phone",
     *_SIGNED_UP}
)  # fmt: skip
"""Trait names pulse reads itself (or shows in `trait_view`): never custom traits."""
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_trait_name(name: str) -> bool:
    """Whether `name` can be a trait: a plain identifier of at most 40 characters.

    >>> is_trait_name("first_name"), is_trait_name("first-name"), is_trait_name("x" * 41)
    (True, False, False)
    """
    return len(name) <= MAX_TRAIT_KEY_CHARS and _NAME.match(name) is not None


def apply_traits(
    state: ContactState, props: dict[str, Any], ts_ms: int, skipped: Counter[str]
) -> None:
    """Keep what pulse needs of an `identify`'s traits (`props.traits`, else `props`).

    >>> state, skipped = ContactState(), Counter()
    >>> props = {"traits": {"email": "", "phone": "+331", "timezone": "Asia/Tokyo",
    ...                     "plan": "pro", "bad-key": 1, "tags": ["a"]}}
    >>> apply_traits(state, props, 0, skipped)
    >>> state.has_email, state.has_phone, state.timezone, state.traits
    (False, True, 'Asia/Tokyo', {'plan': 'pro'})
    >>> sorted(skipped.items())
    [('trait_bad_key', 1), ('trait_bad_value', 1)]
    """
    traits = props.get("traits")
    source: dict[str, Any] = traits if isinstance(traits, dict) else props
    if "email" in source:
        state.has_email = bool(source["email"])
    if "phone" in source:
        state.has_phone = bool(source["phone"])
    tz = source.get("timezone")
    if isinstance(tz, str) and zone(tz) is not None:
        state.timezone = tz
    locale = source.get("locale")
    if isinstance(locale, str) and 0 < len(locale) <= _MAX_LOCALE_CHARS and locale.isprintable():
        state.locale = locale
    if "birthday" in source:
        birthday = _date(source["birthday"])
        if birthday is None:
            skipped["trait_bad_value"] += 1
        else:
            state.birthday = birthday
    for name in _SIGNED_UP:
        if name in source:
            signed_up = _epoch_ms(source[name])
            if signed_up is None:
                skipped["trait_bad_value"] += 1
            else:
                state.signed_up_at = signed_up
            break
    if "consents" in source:
        _apply_consents(state, source["consents"], ts_ms, skipped)
    for name, value in source.items():
        if name not in RESERVED_TRAITS:
            _set_custom(state, name, value, skipped)


def merge_traits(into: ContactState, anon: ContactState) -> int:
    """Fill the known contact's gaps with the anonymous one's traits (the known ones win);
    returns the custom traits the cap turned away.

    >>> known = ContactState(locale="fr-FR", traits={"plan": "pro"})
    >>> anon = ContactState(locale="en-GB", birthday="1990-05-17",
    ...                     traits={"plan": "free", "vip": True})
    >>> merge_traits(known, anon), known.locale, known.birthday, known.traits
    (0, 'fr-FR', '1990-05-17', {'plan': 'pro', 'vip': True})
    """
    if into.has_email is None:
        into.has_email = anon.has_email
    if into.has_phone is None:
        into.has_phone = anon.has_phone
    into.timezone = into.timezone or anon.timezone
    into.locale = into.locale or anon.locale
    into.birthday = into.birthday or anon.birthday
    into.signed_up_at = into.signed_up_at or anon.signed_up_at
    refused = 0
    for name, value in anon.traits.items():
        if name in into.traits:
            continue
        if len(into.traits) >= MAX_CUSTOM_TRAITS:
            refused += 1
        else:
            into.traits[name] = value
    return refused


def trait_view(state: ContactState) -> dict[str, Any]:
    """The traits a condition sees as `contact.traits` (only those known).

    >>> trait_view(ContactState(has_email=True, locale="fr-FR", traits={"plan": "pro"}))
    {'plan': 'pro', 'has_email': True, 'locale': 'fr-FR', 'consents': {}}
    """
    view: dict[str, Any] = dict(state.traits)
    if state.has_email is not None:
        view["has_email"] = state.has_email
    if state.has_phone is not None:
        view["has_phone"] = state.has_phone
    for name in ("timezone", "locale", "birthday"):
        if value := getattr(state, name):
            view[name] = value
    if state.signed_up_at:
        view["signed_up_at"] = state.signed_up_at
    view["consents"] = {channel: fact.is_granted for channel, fact in state.consent.items()}
    return view


def copy_traits(state: ContactState, names: list[str]) -> dict[str, Any]:
    """The named traits the contact has, for a trigger's output (absent ones left out).

    >>> copy_traits(ContactState(locale="fr-FR", traits={"first_name": "Ada"}),
    ...             ["first_name", "locale", "plan"])
    {'first_name': 'Ada', 'locale': 'fr-FR'}
    """
    if not names:
        return {}
    view = trait_view(state)
    return {name: view[name] for name in names if name in view}


def _set_custom(state: ContactState, name: str, value: Any, skipped: Counter[str]) -> None:
    if not is_trait_name(name):
        skipped["trait_bad_key"] += 1
        return
    if value is None:
        state.traits.pop(name, None)
        return
    if not _is_scalar(value):
        skipped["trait_bad_value"] += 1
        return
    if name not in state.traits and len(state.traits) >= MAX_CUSTOM_TRAITS:
        skipped["traits_over_cap"] += 1
        return
    state.traits[name] = value


def _is_scalar(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_MAX_INT - 1 <= value <= _MAX_INT
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= MAX_TRAIT_TEXT_CHARS


def _apply_consents(state: ContactState, value: Any, ts_ms: int, skipped: Counter[str]) -> None:
    if not isinstance(value, dict):
        skipped["trait_bad_value"] += 1
        return
    for channel, granted in value.items():
        if not isinstance(granted, bool) or not is_trait_name(str(channel)):
            skipped["trait_bad_value"] += 1
            continue
        current = state.consent.get(channel)
        if current is None and len(state.consent) >= MAX_CONSENT_CHANNELS:
            skipped["consent_channels_over_cap"] += 1
        elif current is None or current.ts_ms <= ts_ms:
            reason = "granted" if granted else "consent_withdrawn"
            state.consent[channel] = Consent(granted, ts_ms, reason)


def _date(value: Any) -> str | None:
    """`YYYY-MM-DD` of an ISO date (or date-time), or None.

    >>> _date("1990-05-17"), _date("1990-05-17T00:00:00Z"), _date("17/05/1990")
    ('1990-05-17', '1990-05-17', None)
    """
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def _epoch_ms(value: Any) -> int | None:
    """Epoch ms of an epoch-ms number or an ISO-8601 time with a zone, or None.

    >>> _epoch_ms("2026-01-05T10:00:00Z"), _epoch_ms(1767607200000), _epoch_ms("2026-01-05")
    (1767607200000, 1767607200000, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) and 0 < value <= _MAX_INT else None
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return round(moment.timestamp() * 1000)
