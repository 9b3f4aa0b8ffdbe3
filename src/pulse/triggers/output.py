"""Triggers: the events pulse emits for downstream messaging systems.

Every trigger carries a deterministic `trigger_id` derived from the contact,
the trigger name and the episode that armed it (a cart, a session and product,
an order, a silence), so the same input always yields the same ids and a
downstream consumer can drop any duplicate by id.

Every trigger is also a message decision (see `pulse.guardrails`): `decision` is
`sent` (downstream may message the contact), `suppressed` (with
`suppressed_reason`: no consent, no address, a cap...) or `deferred` (quiet
hours: downstream sends at `deferred_until`), or `held_out` (the contact is in
the trigger's control group, see `pulse.experiments`: never sent, written with
the same facts so its conversions can be compared with the sent ones).
Suppressed and held-out triggers are written like the others, so the output is
the audit trail; consumers act on `sent` and `deferred` only.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

__all__ = ["Decision", "Trigger", "encode_trigger", "iso_ms", "trigger_id"]

Decision = Literal["sent", "suppressed", "deferred", "held_out"]
"""What happened to a trigger: only `sent` (now) and `deferred` (later) reach the contact."""


class Trigger(msgspec.Struct, frozen=True, kw_only=True):
    """One fired trigger, as written to every sink (JSON)."""

    trigger_id: str
    trigger: str
    kind: str
    contact_id: str
    ts: str
    """Event time it fired, ISO-8601 UTC."""
    ts_ms: int
    emitted_at: str = ""
    """Wall time it was written, ISO-8601 UTC; stamped at commit."""
    score: float
    stage: str
    channel: str | None
    rules_version: str
    reason: dict[str, Any]
    decision: Decision = "sent"
    suppressed_reason: str | None = None
    """Why a `suppressed` trigger must not be sent (`unsubscribed`, `no_address`, ...)."""
    deferred_until: str | None = None
    """When a `deferred` trigger may be sent (ISO-8601 UTC): the end of quiet hours."""
    variant: str | None = None
    """The A/B variant of the message the contact gets (the trigger's `variants`), if any."""
    traits: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    """The contact traits the trigger's spec names under `traits:`, those the contact has;
    not written when there are none (so triggers without it encode as before)."""


def trigger_id(contact: str, trigger: str, episode: str) -> str:
    """The id of a trigger for one contact and episode; stable across runs.

    >>> trigger_id("c1", "welcome", "e1") == trigger_id("c1", "welcome", "e1")
    True
    >>> len(trigger_id("c1", "welcome", "e1"))
    24
    """
    body = f"{contact}\x1f{trigger}\x1f{episode}".encode()
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def iso_ms(ts_ms: int) -> str:
    """Epoch milliseconds as ISO-8601 UTC with milliseconds.

    >>> iso_ms(1767607200000)
    '2026-01-05T10:00:00.000Z'
    """
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


_ENCODER = msgspec.json.Encoder()


def encode_trigger(trigger: Trigger) -> bytes:
    """A trigger as one line of JSON (no newline)."""
    return _ENCODER.encode(trigger)
