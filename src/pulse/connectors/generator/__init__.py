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

Read in this order: `sessions` (one contact's sessions: steps, timing, the catalogue),
`personas` (who a contact is and its mix of sessions), `stream` (every contact laid out
in time and merged; `generate_events`, `generate_lines`, `write_jsonl`).

>>> events = list(generate_events(GeneratorConfig(contacts=20, events=100)))
>>> len(events), events[0].event_id
(100, 'g7-0')
>>> all(a.ts_ms <= b.ts_ms for a, b in zip(events, events[1:]))
True
"""

from __future__ import annotations

from pulse.config import GeneratorConfig
from pulse.connectors.generator.stream import generate_events, generate_lines, write_jsonl

__all__ = ["GeneratorConfig", "generate_events", "generate_lines", "write_jsonl"]
