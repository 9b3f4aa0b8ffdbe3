"""pulse: real-time lead scoring and marketing triggers from an e-commerce clickstream.

Read first: `events` (the input format), `rules` (the rules file), `journey`
(what one event or one due timer does to a contact), `engine` (the batch step),
`state` (the Redis key layout). `flow` wires them into the dataflow; the layers and
their import contract are in the README (contributor notes).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pulse.errors import (
    ConfigError,
    ConnectorError,
    EventError,
    PulseError,
    RuleError,
    StateError,
)
from pulse.events import Event, Rejected, decode_event
from pulse.triggers import Trigger

if TYPE_CHECKING:
    from pulse.rules import Rules, load_rules

__all__ = [
    "ConfigError",
    "ConnectorError",
    "Event",
    "EventError",
    "PulseError",
    "Rejected",
    "RuleError",
    "Rules",
    "StateError",
    "Trigger",
    "decode_event",
    "load_rules",
]
__version__ = "0.1.0"

# Loaded on first use: the rules compile CEL, which a connector or `pulse.events` alone
# does not need (importing `pulse.connectors.files` took 0.35-0.40 s with them, 0.12 s without).
_LAZY = {"Rules": "pulse.rules", "load_rules": "pulse.rules"}


def __getattr__(name: str) -> Any:
    """`pulse.Rules` and `pulse.load_rules`, imported when first asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module `pulse` has no attribute `{name}`")
