"""How one contact's sessions are written: the catalogue, session steps, their timing."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from math import log as _log
from operator import itemgetter
from random import Random
from typing import Any, NamedTuple

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
        "open_p", "order_prefix", "orders", "out", "planted", "random", "refund_rate", "rng",
        "sessions", "start", "unsorted",
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
        self.planted: Planted | None = None
        """The known effect to plant (see `GeneratorConfig.planted_lift`), if any."""

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


class Planted(NamedTuple):
    """A known effect of the cart reminder: `lift` less come-back probability for the
    contacts pulse holds out of `experiment` at `share` (see `pulse.experiments`)."""

    lift: float
    share: float
    experiment: str


def _squeeze(sessions: list[_Session], factor: float) -> list[_Session]:
    """Sessions with every offset scaled by `factor` (< 1), for spans too short to hold them."""
    return [
        (
            [(int(step * factor), type_, props) for step, type_, props in events],
            int(duration * factor),
        )
        for events, duration in sessions
    ]
