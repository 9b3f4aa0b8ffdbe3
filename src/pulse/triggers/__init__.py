"""Triggers: the kinds pulse can fire, and the events it emits for them.

Read `base` first (what a kind is, the order the journey calls its hooks in),
then any kind's module: each holds the kind's spec (the rules-file fields), its
arm/cancel/fire logic, its checks and its typed `Reason`. `KINDS` is the registry
the journey, the rules loader, `pulse check`, `pulse rules-doc` and `pulse explain`
read; a new kind is one module plus its line here (and in `TriggerSpec`).

`output` is what is written: `Trigger` (one fired trigger, its `trigger_id`
deterministic) and the message `Decision` it carries.
"""

from __future__ import annotations

from typing import Any, Literal

from pulse.triggers import (
    abandon_cart,
    anniversary,
    browse_abandon,
    lost_customer,
    milestone,
    post_purchase,
    rescue,
    sales_ready,
    welcome,
    welcome_back,
)
from pulse.triggers.abandon_cart import AbandonCart
from pulse.triggers.anniversary import Anniversary
from pulse.triggers.base import PASSIVE_TYPES, Kind, Reason, ScoreFacts, TriggerSpecBase
from pulse.triggers.browse_abandon import BrowseAbandon
from pulse.triggers.lost_customer import LostCustomer
from pulse.triggers.milestone import Milestone
from pulse.triggers.output import Decision, Trigger, encode_trigger, iso_ms, trigger_id
from pulse.triggers.post_purchase import PostPurchase
from pulse.triggers.rescue import Rescue
from pulse.triggers.sales_ready import SalesReady
from pulse.triggers.welcome import Welcome
from pulse.triggers.welcome_back import WelcomeBack

__all__ = [
    "KINDS",
    "PASSIVE_TYPES",
    "AbandonCart",
    "Anniversary",
    "BrowseAbandon",
    "Decision",
    "Kind",
    "KindName",
    "LostCustomer",
    "Milestone",
    "PostPurchase",
    "Reason",
    "Rescue",
    "SalesReady",
    "ScoreFacts",
    "Trigger",
    "TriggerSpec",
    "TriggerSpecBase",
    "Welcome",
    "WelcomeBack",
    "encode_trigger",
    "hidden_facts",
    "iso_ms",
    "kind_of",
    "reason_references",
    "trigger_id",
]

KINDS: dict[str, Kind[Any]] = {
    kind.name: kind
    for kind in (
        welcome.KIND,
        abandon_cart.KIND,
        browse_abandon.KIND,
        sales_ready.KIND,
        rescue.KIND,
        lost_customer.KIND,
        welcome_back.KIND,
        post_purchase.KIND,
        milestone.KIND,
        anniversary.KIND,
    )
}
"""Every trigger kind by name, in the order the rules reference documents them."""

TriggerSpec = (
    Welcome
    | AbandonCart
    | BrowseAbandon
    | SalesReady
    | Rescue
    | LostCustomer
    | WelcomeBack
    | PostPurchase
    | Milestone
    | Anniversary
)
"""A trigger of a rules file (msgspec decodes it by its `kind` tag); one type per kind."""

KindName = Literal[
    "welcome", "abandon_cart", "browse_abandon", "sales_ready",
    "rescue", "lost_customer", "welcome_back", "post_purchase", "milestone", "anniversary",
]  # fmt: skip


def kind_of(spec: TriggerSpecBase) -> Kind[Any]:
    """The kind of a trigger spec (by its `kind` tag)."""
    return KINDS[str(type(spec).__struct_config__.tag)]


_ALL_HIDDEN = frozenset().union(*(k.reason_type.hidden for k in KINDS.values()))


def hidden_facts(kind: str) -> frozenset[str]:
    """The `reason` facts a terminal line leaves out for a trigger of `kind` (ids, times).

    >>> sorted(hidden_facts("welcome"))
    ['event', 'model_p', 'points']
    """
    known = KINDS.get(kind)
    hidden = known.reason_type.hidden if known is not None else _ALL_HIDDEN
    return hidden | ScoreFacts.hidden


def reason_references(kind: str) -> tuple[str, ...]:
    """The `reason` facts that name an event id (or an order id) for a trigger of `kind`.

    >>> reason_references("abandon_cart")
    ('armed_by',)
    """
    known = KINDS.get(kind)
    return known.reason_type.references if known is not None else ("armed_by", "event")
