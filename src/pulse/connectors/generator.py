"""Seeded synthetic clickstream: realistic e-commerce journeys as pulse events.

The same `GeneratorConfig` always gives byte-identical output. Each contact gets an
activity budget (a few heavy contacts, many light ones, shaped by `skew`) and a persona
chosen with the seeded RNG; the persona writes its journey as sessions (events seconds to
minutes apart), which are then laid out in time with gaps of hours to days. Journeys of
all contacts are merged into one stream ordered by event time.

Personas, as shares of identified contacts (`anonymous_share` of all contacts never
identify). A persona needs a minimum budget, so light contacts get the simple ones and the
demanding ones are weighted up on heavier contacts, keeping overall shares near these:

=============  =====  ====================================================================
persona        share  journey
=============  =====  ====================================================================
anonymous      (cfg)  page_view / product_view / search with `anonymous_id` only
signup         16 %   `signup` first (carrying both ids), then emails and browsing
browser        15 %   3-5 `product_view` of one product in a session, never add to cart
abandoner      16 %   `add_to_cart` ends a session; 45 % come back later and buy
buyer          14 %   view → add_to_cart → checkout_started → purchase within minutes
repeat buyer   10 %   2-4 purchases weeks apart
email          11 %   email_sent / email_open / email_click, webinars, forms
fader          10 %   engaged for 2-5 weeks, activity drops, then silent for > 14 days
returner        8 %   buys, silent for > 90 days, comes back (only when span > 100 days)
=============  =====  ====================================================================

Buyers and repeat buyers get a `refund` a day or two later for 8 % of their orders.

>>> events = list(generate_events(GeneratorConfig(contacts=20, events=100)))
>>> len(events), events[0].event_id
(100, 'g7-0')
>>> all(a.ts_ms <= b.ts_ms for a, b in itertools.pairwise(events))
True
"""

from __future__ import annotations

import bisect
import gc
import itertools
import time
from collections.abc import Callable, Iterator
from math import log as _log
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import IO, Any, NamedTuple

import orjson

from pulse.config import GeneratorConfig
from pulse.connectors.traffic import hot_rows
from pulse.events import Event, parse_ts

__all__ = ["GeneratorConfig", "generate_events", "generate_lines", "write_jsonl"]

_MINUTE = 60_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR

_HEAD = 0.01
"""Flattens the head of the activity curve: the busiest contacts hold 1-2 % of events each."""
_SESSION_GAP_MS = 45 * _MINUTE
"""Least quiet time between two sessions of a contact: an abandoned cart stays > 30 min."""
_STEP_MEAN_MS = 40_000
"""Events inside a session are ~40 s apart on average (exponential, 2 s to 10 min)."""
_OPEN_DELAY_MU = _log(90 * _MINUTE)
"""Emails are opened a median 90 minutes after sending (log-normal, 1 min to 36 h)."""
_ISO_EVERY = 10
"""Every tenth line carries its `ts` as ISO-8601 text so both wire forms get exercised."""
_CATALOGUE_SIZE = 500
_CHUNK = 4096

_PATHS = (
    "/", "/new", "/sale", "/category/women", "/category/men", "/category/home",
    "/category/outdoor", "/blog/style-guide", "/help/shipping", "/about",
)  # fmt: skip
_QUERIES = (
    "running shoes", "rain jacket", "linen shirt", "backpack", "wool socks", "gift",
    "headphones", "yoga mat", "sunglasses", "sale", "duvet cover", "water bottle",
)  # fmt: skip
_FORMS = ("newsletter", "contact", "quote_request", "webinar_registration")
_SIGNUP_METHODS = ("email", "google", "apple")

_Row = tuple[int, int, str, dict[str, Any]]
"""One placed event: (ts_ms, contact index, type, props)."""
_Step = tuple[int, str, dict[str, Any]]
"""One event inside a session: (ms since the session started, type, props)."""
_Session = tuple[list[_Step], int]
"""A session's events and its duration; events past the duration are deferred (refunds)."""


class _Catalogue:
    """Products with fixed log-normal prices and Zipf-like popularity."""

    __slots__ = ("cum", "ids", "prices", "total")

    def __init__(self, rng: Random, size: int = _CATALOGUE_SIZE) -> None:
        ids = [f"p{i}" for i in range(1, size + 1)]
        rng.shuffle(ids)  # popularity rank is not the id's number
        self.ids = ids
        # Median ~35, mean ~48, ~1.5 % above 200; prices end in .99 like a real shop.
        self.prices = [max(1.99, round(round(rng.lognormvariate(3.55, 0.8)) - 0.01, 2))
                       for _ in range(size)]  # fmt: skip
        self.cum = list(itertools.accumulate((rank + 3) ** -0.9 for rank in range(size)))
        self.total = self.cum[-1]

    def pick(self, rng: Random) -> int:
        """A product index drawn by popularity."""
        return bisect.bisect_right(self.cum, rng.random() * self.total)


class _Journey:
    """One contact's journey while it is written: cart state, sessions, placed rows."""

    __slots__ = (
        "_ev", "_later", "_t", "cart", "cart_value", "cat", "ci", "click_p", "count", "end",
        "open_p", "order_prefix", "orders", "out", "random", "refund_rate", "rng", "sessions",
        "start", "unsorted",
    )  # fmt: skip

    def __init__(
        self, rng: Random, cat: _Catalogue, ci: int, seed: int, start: int, end: int
    ) -> None:
        self.rng = rng
        self.random = rng.random  # bound once: the hot paths call it per event
        self.cat = cat
        self.ci = ci
        self.start = start
        self.end = end
        self.order_prefix = f"o{seed}-{ci + 1}-"  # o7-42-3: contact c42's third order
        self.orders = 0
        self.cart: list[tuple[int, int]] = []
        self.cart_value = 0.0
        self.refund_rate = 0.08
        self.open_p = 0.25
        self.click_p = 0.25
        self.sessions: list[_Session] = []
        self.count = 0
        self.out: list[_Row] = []
        self.unsorted = False
        self._ev: list[_Step] = []
        self._later: list[_Step] = []
        self._t = 0

    @property
    def span(self) -> int:
        """Length of the whole generated period in ms."""
        return self.end - self.start

    # --- writing one session -------------------------------------------------------------

    def _begin(self) -> None:
        self._ev = []
        self._later = []
        self._t = 0

    def _emit(self, type_: str, props: dict[str, Any]) -> None:
        self._ev.append((self._t, type_, props))
        # Inlined exponential draw (what Random.expovariate does), 2 s to 10 min apart.
        self._t += min(int(-_log(1.0 - self.random()) * _STEP_MEAN_MS) + 2_000, 10 * _MINUTE)

    def _end(self) -> None:
        events = self._ev
        duration = events[-1][0]
        if self._later:
            events.extend(self._later)
            self.unsorted = True
        self.sessions.append((events, duration))
        self.count += len(events)

    def _page(self) -> None:
        # Indexing by random() is several times cheaper than Random.choice.
        self._emit("page_view", {"path": _PATHS[int(self.random() * len(_PATHS))]})

    def _search(self) -> None:
        self._emit("search", {"query": _QUERIES[int(self.random() * len(_QUERIES))]})

    def _view(self, product: int) -> None:
        cat = self.cat
        self._emit("product_view", {"product_id": cat.ids[product], "price": cat.prices[product]})

    def _entry(self) -> None:
        if self.rng.random() < 0.3:
            self._search()
        else:
            self._page()

    def _wander(self, steps: int) -> None:
        random, pick, rng = self.random, self.cat.pick, self.rng
        for _ in range(steps):
            r = random()
            if r < 0.6:
                self._view(pick(rng))
            elif r < 0.8:
                self._page()
            elif r < 0.93 or not self.cart:
                self._search()
            else:
                self._emit("cart_view", {"cart_value": self.cart_value})

    def _add_items(self, count: int) -> None:
        rng, cat = self.rng, self.cat
        for _ in range(count):
            product = cat.pick(rng)
            self._view(product)
            quantity = 1 if rng.random() < 0.85 else rng.randint(2, 3)
            price = cat.prices[product]
            self.cart.append((product, quantity))
            self.cart_value = round(self.cart_value + price * quantity, 2)
            self._emit(
                "add_to_cart",
                {"product_id": cat.ids[product], "price": price, "quantity": quantity,
                 "cart_value": self.cart_value},
            )  # fmt: skip

    def _checkout(self) -> None:
        rng = self.rng
        if rng.random() < 0.5:
            self._emit("cart_view", {"cart_value": self.cart_value})
        value = self.cart_value
        self._emit("checkout_started", {"cart_value": value, "items": len(self.cart)})
        self.orders += 1
        order_id = f"{self.order_prefix}{self.orders}"
        paid_at = self._t
        self._emit("purchase", {"order_id": order_id, "revenue": value})
        if rng.random() < self.refund_rate:
            delay = _DAY + int(rng.random() * _DAY)
            self._later.append((paid_at + delay, "refund", {"order_id": order_id}))
        self.cart = []
        self.cart_value = 0.0

    # --- session kinds -------------------------------------------------------------------

    def browse(self) -> None:
        """Landing page, then a few product views, pages and searches."""
        self._begin()
        self._page()
        self._wander(min(int(self.rng.expovariate(1 / 3.0)), 20))
        self._end()

    def focus(self) -> None:
        """3-5 views of the same product, with the odd detour between them."""
        rng = self.rng
        self._begin()
        self._entry()
        product = self.cat.pick(rng)
        for k in range(rng.randint(3, 5)):
            if k and rng.random() < 0.25:
                if rng.random() < 0.5:
                    self._page()
                else:
                    self._view(self.cat.pick(rng))
            self._view(product)
        self._end()

    def login(self) -> None:
        """A returning customer signs in and looks around."""
        self._begin()
        self._emit("login", {})
        self._wander(1 + min(int(self.rng.expovariate(1 / 2.0)), 10))
        self._end()

    def email(self) -> None:
        """A campaign email: sent, maybe opened minutes to hours later, maybe clicked."""
        rng = self.rng
        campaign = f"cmp{rng.randint(1, 48)}"
        self._begin()
        self._emit("email_sent", {"channel": "email", "campaign_id": campaign})
        if rng.random() < self.open_p:
            delay = int(rng.lognormvariate(_OPEN_DELAY_MU, 1.2))
            self._t += min(max(delay, _MINUTE), 36 * _HOUR)
            self._emit("email_open", {"channel": "email", "campaign_id": campaign})
            if rng.random() < self.click_p:
                self._emit("email_click", {"channel": "email", "campaign_id": campaign})
                self._page()
                self._wander(min(int(rng.expovariate(1 / 2.0)), 8))
        self._end()

    def sms(self) -> None:
        """A click on a campaign SMS, landing on the shop."""
        rng = self.rng
        self._begin()
        self._emit("sms_click", {"channel": "sms", "campaign_id": f"sms{rng.randint(1, 12)}"})
        self._page()
        self._wander(min(int(rng.expovariate(1 / 1.5)), 6))
        self._end()

    def form(self) -> None:
        """A page, then a form: newsletter, contact, quote or webinar registration."""
        self._begin()
        self._page()
        self._emit("form_submit", {"form": self.rng.choice(_FORMS)})
        self._end()

    def webinar(self) -> None:
        """Attends a webinar; some visit the shop straight after."""
        rng = self.rng
        self._begin()
        self._emit(
            "webinar_attended",
            {"webinar_id": f"w{rng.randint(1, 12)}", "minutes": rng.randint(5, 60)},
        )
        if rng.random() < 0.4:
            self._page()
        self._end()

    def signup(self) -> None:
        """Browses a little, then signs up (the contact's first identified event)."""
        rng = self.rng
        self._begin()
        self._page()
        self._wander(rng.randint(0, 2))
        self._emit("signup", {"method": rng.choice(_SIGNUP_METHODS)})
        if rng.random() < 0.3:
            self._emit("form_submit", {"form": "newsletter"})
        self._end()

    def abandon(self) -> None:
        """Puts 1-3 items in the cart and leaves: `add_to_cart` is the session's last event."""
        rng = self.rng
        self._begin()
        self._entry()
        self._wander(rng.randint(0, 2))
        self._add_items(1 + min(int(rng.expovariate(1 / 0.6)), 2))
        self._end()

    def empty_cart(self) -> None:
        """Adds items, then removes every one of them again (cart back to 0)."""
        rng, cat = self.rng, self.cat
        self._begin()
        self._page()
        self._add_items(rng.randint(1, 2))
        self._emit("cart_view", {"cart_value": self.cart_value})
        while self.cart:
            product, quantity = self.cart.pop()
            price = cat.prices[product]
            # The last removal lands on exactly 0 rather than on a rounding residue.
            self.cart_value = round(self.cart_value - price * quantity, 2) if self.cart else 0.0
            self._emit(
                "remove_from_cart",
                {"product_id": cat.ids[product], "price": price, "quantity": quantity,
                 "cart_value": self.cart_value},
            )  # fmt: skip
        if rng.random() < 0.5:
            self._page()
        self._end()

    def buy(self) -> None:
        """View → add_to_cart → checkout_started → purchase, all within minutes."""
        rng = self.rng
        self._begin()
        self._entry()
        self._wander(rng.randint(0, 2))
        self._add_items(1 + min(int(rng.expovariate(1 / 0.7)), 3))
        self._checkout()
        self._end()

    def come_back(self) -> None:
        """Returns to an abandoned cart and buys it."""
        self._begin()
        if self.rng.random() < 0.3:
            self._emit("login", {})
        else:
            self._page()
        if not self.cart:
            self._add_items(1)
        self._checkout()
        self._end()

    def revisit(self) -> None:
        """A lost customer's first visit in months: a page view and a look around."""
        self._begin()
        self._page()
        self._wander(self.rng.randint(0, 3))
        self._end()

    # --- filling and placing -------------------------------------------------------------

    def fill(self, target: float, mix: _Mix) -> None:
        """Write sessions drawn from `mix` until the journey holds `target` events."""
        rng = self.rng
        while self.count < target:
            r = rng.random()
            for threshold, kind in mix:
                if r < threshold:
                    kind(self)
                    break

    def place(self, a: int, b: int, *, pin_first: bool = False, pin_last: bool = False) -> None:
        """Lay the pending sessions out inside [a, b), in order, with random gaps.

        Session starts are uniform order statistics over the free time, so gaps look
        memoryless (hours to days); `pin_first`/`pin_last` put the first session at `a`
        or end the last one at `b`. Too little room shrinks gaps, then sessions.
        """
        sessions = self.sessions
        if not sessions:
            return
        self.sessions = []
        # Windows computed for a roomy span can fall past its end in a short one.
        a = min(max(a, self.start), self.end - 1)
        b = max(min(b, self.end), a + 1)
        usable = b - 1 - a
        count = len(sessions)
        total = sum(duration for _, duration in sessions)
        if total > usable:
            sessions = _squeeze(sessions, usable / total)
            total = sum(duration for _, duration in sessions)
        gap = _SESSION_GAP_MS
        if count > 1 and total + gap * (count - 1) > usable:
            gap = (usable - total) // (count - 1)
        free = usable - total - gap * (count - 1)
        rng = self.rng
        offsets = sorted(int(rng.random() * (free + 1)) for _ in range(count))
        if pin_first:
            offsets[0] = 0
        if pin_last:
            offsets[-1] = free
        out, ci, last = self.out, self.ci, self.end - 1
        used = a
        for offset, (events, duration) in zip(offsets, sessions, strict=True):
            begin = used + offset
            if events[-1][0] > duration:
                # Only a deferred refund can run past the span; it lands on its last ms.
                out.extend([(min(begin + step, last), ci, t, p) for step, t, p in events])
            else:
                out.extend([(begin + step, ci, t, p) for step, t, p in events])
            used += duration + gap

    def rows(self, budget: int) -> list[_Row]:
        """The journey's first `budget` events in time order."""
        out = self.out
        if self.unsorted:
            out.sort(key=itemgetter(0))
        return out[:budget] if len(out) > budget else out


_Mix = tuple[tuple[float, Callable[[_Journey], None]], ...]


def _squeeze(sessions: list[_Session], factor: float) -> list[_Session]:
    """Sessions with every offset scaled by `factor` (< 1), for spans too short to hold them."""
    return [
        (
            [(int(step * factor), type_, props) for step, type_, props in events],
            int(duration * factor),
        )
        for events, duration in sessions
    ]


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


class _Stream(NamedTuple):
    rows: list[_Row]
    contact_ids: list[str | None]
    anonymous_ids: list[str]


def _build(config: GeneratorConfig) -> _Stream:
    """Every contact's journey, merged into one list ordered by time (ties: contact, order)."""
    # Millions of small tuples and dicts, none in a cycle: the cyclic collector would rescan
    # them over and over for nothing (a third of the run time at 1M events).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_journeys(config)
    finally:
        if enabled:
            gc.enable()


def _build_journeys(config: GeneratorConfig) -> _Stream:
    rng = Random(config.seed)
    catalogue = _Catalogue(rng)
    if config.rate_per_s > 0:
        return _build_hot(config, rng, catalogue)
    rows: list[_Row] = []
    contact_ids: list[str | None] = []
    anonymous_ids: list[str] = []
    budgets = _budgets(config, rng)
    weights = _persona_weights(config, budgets)
    for ci, budget in enumerate(budgets):
        anonymous_ids.append(f"{rng.getrandbits(64):016x}")
        persona = _choose(rng, config, weights, budget) if budget else _ANONYMOUS
        contact_ids.append(None if persona is _ANONYMOUS else f"c{ci + 1}")
        if budget:
            journey = _Journey(rng, catalogue, ci, config.seed, config.start_ms, config.end_ms)
            persona.write(journey, budget)
            rows.extend(journey.rows(budget))
    rows.sort(key=itemgetter(0))  # stable, so equal times keep contact and journey order
    return _Stream(rows, contact_ids, anonymous_ids)


def _build_hot(config: GeneratorConfig, rng: Random, catalogue: _Catalogue) -> _Stream:
    """Dense Zipf traffic with a hot head contact (`hot_rows`), all contacts identified."""
    rows = hot_rows(
        contacts=config.contacts,
        events=config.events,
        start_ms=config.start_ms,
        rate_per_s=config.rate_per_s,
        hot_share=config.hot_share,
        seed=config.seed,
        pick_product=catalogue.pick,
    )
    anonymous_ids = [f"{rng.getrandbits(64):016x}" for _ in range(config.contacts)]
    return _Stream(rows, [f"c{ci + 1}" for ci in range(config.contacts)], anonymous_ids)


def _iso(ts_ms: int) -> str | None:
    """`ts_ms` as ISO-8601 with `Z`, or None if it would not decode to exactly `ts_ms`."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000))
    text = f"{text}.{ts_ms % 1000:03d}Z"
    return text if parse_ts(text) == ts_ms else None


def generate_lines(config: GeneratorConfig) -> Iterator[bytes]:
    """JSON lines (no trailing newline), globally ordered by event time, exactly `config.events`."""
    stream = _build(config)
    contact_ids, anonymous_ids = stream.contact_ids, stream.anonymous_ids
    prefix = f"g{config.seed}-"
    dumps = orjson.dumps
    for n, (ts, ci, type_, props) in enumerate(stream.rows):
        wire_ts: int | str = ts
        if n % _ISO_EVERY == _ISO_EVERY - 1:
            wire_ts = _iso(ts) or ts
        contact_id = contact_ids[ci]
        if contact_id is None:
            line = {"event_id": prefix + str(n), "type": type_, "ts": wire_ts,
                    "anonymous_id": anonymous_ids[ci], "props": props}  # fmt: skip
        elif type_ == "signup":
            # Sign-up is where the visitor's cookie meets the new contact: both ids travel.
            line = {"event_id": prefix + str(n), "type": type_, "ts": wire_ts,
                    "contact_id": contact_id, "anonymous_id": anonymous_ids[ci],
                    "props": props}  # fmt: skip
        else:
            line = {"event_id": prefix + str(n), "type": type_, "ts": wire_ts,
                    "contact_id": contact_id, "props": props}  # fmt: skip
        yield dumps(line)


def generate_events(config: GeneratorConfig) -> Iterator[Event]:
    """The stream of `generate_lines`, already decoded: equal to `decode_event` of each line."""
    stream = _build(config)
    contact_ids, anonymous_ids = stream.contact_ids, stream.anonymous_ids
    prefix = f"g{config.seed}-"
    for n, (ts, ci, type_, props) in enumerate(stream.rows):
        contact_id = contact_ids[ci]
        if contact_id is None:
            anonymous_id = anonymous_ids[ci]
            yield Event(
                prefix + str(n), type_, ts, "anon:" + anonymous_id, None, anonymous_id, props
            )
        else:
            anonymous_id_or_none = anonymous_ids[ci] if type_ == "signup" else None
            yield Event(
                prefix + str(n), type_, ts, contact_id, contact_id, anonymous_id_or_none, props
            )


def write_jsonl(config: GeneratorConfig, path: str | Path | IO[bytes]) -> int:
    """Write the stream as newline-terminated JSON lines; returns how many lines were written."""
    if isinstance(path, str | Path):
        with open(path, "wb") as fh:
            return _write(config, fh)
    return _write(config, path)


def _write(config: GeneratorConfig, fh: IO[bytes]) -> int:
    written = 0
    lines = generate_lines(config)
    while chunk := list(itertools.islice(lines, _CHUNK)):
        chunk.append(b"")  # so the join ends the last line with a newline too
        fh.write(b"\n".join(chunk))
        written += len(chunk) - 1
    return written
