"""Redis, the state of record, behind one seam: nothing else in pulse talks to Redis.

Read in this order: `keys` (the key layout: every key pulse writes, in one table),
`store` (the contact store: one read and one atomic Lua commit per batch), `models`
(the model registry: saved model, version, quality, trainer lease, shipped labels),
`outbox` (the trigger stream read back: the Kafka relay's cursor, offline readers),
`seam` (`translate`: every Redis and decode error becomes a `StateError` there).
"""

from __future__ import annotations

from pulse.redis_client import connect  # re-exported: the one way to build a client
from pulse.state.keys import (
    DEFAULT_STATE_TTL_S,
    TRIGGER_STREAM_MAXLEN,
    KeyLayout,
    layout_for,
    layout_for_url,
)
from pulse.state.models import ModelRegistry
from pulse.state.outbox import RelayCursor, read_all_triggers
from pulse.state.seam import translate
from pulse.state.store import ContactStore, Merge, ModelShipping

__all__ = [
    "DEFAULT_STATE_TTL_S",
    "TRIGGER_STREAM_MAXLEN",
    "ContactStore",
    "KeyLayout",
    "Merge",
    "ModelRegistry",
    "ModelShipping",
    "RelayCursor",
    "connect",
    "layout_for",
    "layout_for_url",
    "read_all_triggers",
    "translate",
]
