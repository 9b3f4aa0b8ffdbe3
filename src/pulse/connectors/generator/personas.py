"""Personas: who a contact is (signup, browser, abandoner, buyer, ...) and its session mix."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from random import Random
from typing import NamedTuple

from pulse.config import GeneratorConfig
from pulse.connectors.generator.sessions import (
    _DAY,
    _HEAD,
    _HOUR,
    _SESSION_GAP_MS,
    Planted,
    _Journey,
    _Mix,
)
from pulse.experiments import is_held_out


def _mix(*weights: tuple[float, Callable[[_Journey], None]]) -> _Mix:
    """Cumulative thresholds for `_Journey.fill`; the last one is exactly 1."""
    total = sum(weight for weight, _ in weights)
    cum = itertools.accumulate(weight / total for weight, _ in weights)
    kinds = [kind for _, kind in weights]
    thresholds = [*list(cum)[:-1], 1.0]
    return tuple(zip(thresholds, kinds, strict=True))


J = _Journey
# Filler sessions never touch the cart, so the cart a persona leaves stays as it was.
_ANON_MIX = _mix((0.8, J.browse), (0.2, J.focus))
_GENERAL_MIX = _mix(
    (0.55, J.browse), (0.22, J.email), (0.08, J.focus), (0.07, J.login),
    (0.03, J.form), (0.02, J.webinar), (0.03, J.sms),
)  # fmt: skip
_BROWSER_MIX = _mix((0.35, J.focus), (0.45, J.browse), (0.15, J.email), (0.05, J.login))
_EMAIL_MIX = _mix(
    (0.6, J.email), (0.2, J.browse), (0.08, J.webinar), (0.07, J.form), (0.05, J.sms)
)  # fmt: skip
_SIGNUP_MIX = _mix((0.4, J.email), (0.45, J.browse), (0.05, J.form), (0.1, J.login))
_FADING_MIX = _mix((0.7, J.email), (0.3, J.browse))
del J


def _late(j: _Journey, share: float) -> int:
    """A start somewhere in the first `share` of the span: contacts arrive over time."""
    return j.start + int(j.rng.random() * share * j.span)


def _anonymous(j: _Journey, budget: int) -> None:
    j.fill(budget, _ANON_MIX)
    j.place(_late(j, 0.8), j.end)


def _signup(j: _Journey, budget: int) -> None:
    j.open_p, j.click_p = 0.45, 0.3
    j.signup()
    j.fill(budget, _SIGNUP_MIX)
    j.place(_late(j, 0.7), j.end, pin_first=True)


def _browser(j: _Journey, budget: int) -> None:
    j.fill(budget * j.rng.random() * 0.6 - 5, _BROWSER_MIX)
    j.focus()
    j.fill(budget, _BROWSER_MIX)
    j.place(_late(j, 0.5), j.end)


def _abandoner(j: _Journey, budget: int) -> None:
    if j.planted is not None:
        _planted_abandoner(j, budget, j.planted)
        return
    rng = j.rng
    if rng.random() < 0.2:
        j.empty_cart()
    j.fill(budget * (0.1 + 0.4 * rng.random()) - 4, _GENERAL_MIX)
    j.abandon()
    if rng.random() < 0.45:
        j.fill(budget * (0.6 + 0.2 * rng.random()) - 4, _GENERAL_MIX)
        j.come_back()
    j.fill(budget, _GENERAL_MIX)
    j.place(_late(j, 0.5), j.end)


COME_BACK_P = 0.45
"""How often an abandoner comes back and buys (the reminder's contacts, when planted)."""


def _planted_abandoner(j: _Journey, budget: int, planted: Planted) -> None:
    """An abandoner whose come-back depends on the cart reminder, measurably.

    The cart is left first (so a journey's budget never cuts what follows), and the
    come-back and purchase land 1 h to 5 d after it, inside pulse's default 7-day goal
    window: `COME_BACK_P` for contacts pulse sends the reminder to, `lift` less for
    those its stable hash holds out. Budgets under about 14 events may still cut the
    come-back (in both arms alike).
    """
    rng = j.rng
    is_control = is_held_out(f"c{j.ci + 1}", planted.experiment, planted.share)
    j.abandon()
    j.place(_late(j, 0.5), j.end, pin_first=True)
    after = j.out[-1][0] + _SESSION_GAP_MS
    if rng.random() < COME_BACK_P - (planted.lift if is_control else 0.0):
        j.come_back()
        j.place(j.out[-1][0] + _HOUR + int(rng.random() * 5 * _DAY), j.end, pin_first=True)
        after = j.out[-1][0] + _SESSION_GAP_MS
    j.fill(budget, _GENERAL_MIX)
    j.place(after, j.end)


def _buyer(j: _Journey, budget: int) -> None:
    signed_up = j.rng.random() < 0.25
    if signed_up:
        j.signup()
    j.fill(budget * (0.2 + 0.5 * j.rng.random()) - 6, _GENERAL_MIX)
    j.buy()
    j.fill(budget, _GENERAL_MIX)
    j.place(_late(j, 0.6), j.end, pin_first=signed_up)


def _repeat_buyer(j: _Journey, budget: int) -> None:
    rng = j.rng
    rounds = rng.randint(2, 4)
    begin = _late(j, 0.15)
    # Each round ends with its purchase at the round's end, so purchases sit ~a round apart.
    length = (j.end - begin) // (rounds + 0.5)
    for k in range(rounds):
        j.fill(budget * (k + 1) / (rounds + 1) - 6, _GENERAL_MIX)
        j.buy()
        until = int(begin + length - rng.random() * length / 4)
        j.place(begin, until, pin_last=True)
        begin = until + _SESSION_GAP_MS
    j.fill(budget, _GENERAL_MIX)
    j.place(begin, j.end)


def _email(j: _Journey, budget: int) -> None:
    j.open_p, j.click_p = 0.6, 0.4
    j.fill(budget, _EMAIL_MIX)
    j.place(_late(j, 0.3), j.end)


def _fader(j: _Journey, budget: int) -> None:
    rng = j.rng
    room = j.span - 16 * _DAY  # the last 16 days stay silent
    if room < 3 * _DAY:
        j.fill(budget, _GENERAL_MIX)
        j.place(j.start, j.end)
        return
    engaged = (14 + 21 * rng.random()) * _DAY
    dropping = (5 + 7 * rng.random()) * _DAY
    scale = min(1.0, room / (engaged + dropping))
    engaged, dropping = engaged * scale, dropping * scale
    begin = j.start + int(rng.random() * (room - engaged - dropping))
    j.fill(budget * 0.92, _GENERAL_MIX)
    j.place(begin, int(begin + engaged))
    j.fill(budget, _FADING_MIX)
    j.place(int(begin + engaged) + _SESSION_GAP_MS, int(begin + engaged + dropping))


def _returner(j: _Journey, budget: int) -> None:
    rng = j.rng
    room = j.span - 91 * _DAY
    gap = 91 * _DAY + int(rng.random() * min(14 * _DAY, room - 6 * _DAY))
    first = int((j.span - gap) * (0.35 + 0.3 * rng.random()))
    j.refund_rate = 0.0  # a refund would break the silence
    j.fill(budget * 0.6 - 6, _GENERAL_MIX)
    j.buy()
    j.place(j.start, j.start + first, pin_last=True)
    j.revisit()
    if rng.random() < 0.5:
        j.fill(budget * 0.8 - 6, _GENERAL_MIX)
        j.buy()
    j.fill(budget, _GENERAL_MIX)
    j.place(j.start + first + gap, j.end, pin_first=True)


class _Persona(NamedTuple):
    name: str
    share: float
    min_budget: int
    write: Callable[[_Journey, int], None]
    min_span_days: float = 0.0


_IDENTIFIED = (
    _Persona("signup", 0.16, 1, _signup),
    _Persona("browser", 0.15, 3, _browser),
    _Persona("abandoner", 0.16, 2, _abandoner),
    _Persona("buyer", 0.14, 5, _buyer),
    _Persona("repeat_buyer", 0.10, 10, _repeat_buyer),
    _Persona("email", 0.11, 1, _email),
    _Persona("fader", 0.10, 6, _fader),
    _Persona("returner", 0.08, 7, _returner, min_span_days=100.0),
)
_ANONYMOUS = _Persona("anonymous", 0.0, 1, _anonymous)


def _persona_weights(config: GeneratorConfig, budgets: list[int]) -> list[tuple[_Persona, float]]:
    """Each persona's share divided by the fraction of contacts whose budget it fits.

    Light contacts can only take the simple personas; weighting the demanding ones up on
    the contacts that can hold them keeps the overall shares near the table's.
    """
    active = [budget for budget in budgets if budget] or [0]
    weights = []
    for persona in _IDENTIFIED:
        if config.span_days > persona.min_span_days:
            fits = sum(1 for budget in active if budget >= persona.min_budget)
            weights.append((persona, persona.share * len(active) / max(fits, 1)))
    return weights


def _choose(
    rng: Random, config: GeneratorConfig, weights: list[tuple[_Persona, float]], budget: int
) -> _Persona:
    """A persona for a contact with `budget` events; light contacts get the simple ones."""
    if rng.random() < config.anonymous_share:
        return _ANONYMOUS
    fits = [(persona, weight) for persona, weight in weights if budget >= persona.min_budget]
    r = rng.random() * sum(weight for _, weight in fits)
    for persona, weight in fits:
        r -= weight
        if r < 0:
            return persona
    return fits[-1][0]


def _budgets(config: GeneratorConfig, rng: Random) -> list[int]:
    """Events per contact: Zipf-like over a shuffled rank, summing to exactly `events`."""
    n, total = config.contacts, config.events
    ranks = list(range(n))
    rng.shuffle(ranks)
    # The rank is taken as a fraction of n so the curve keeps its shape at any contact count.
    weights = [((rank + 0.5) / n + _HEAD) ** -config.skew for rank in ranks]
    scale = total / sum(weights)
    raw = [w * scale for w in weights]
    budgets = [int(x) for x in raw]
    # Largest remainders get the events rounding left over; ties go to the lower index.
    by_remainder = sorted(range(n), key=lambda i: raw[i] - budgets[i], reverse=True)
    for k in range(total - sum(budgets)):
        budgets[by_remainder[k % n]] += 1
    return budgets
