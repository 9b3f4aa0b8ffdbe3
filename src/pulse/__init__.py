"""pulse: real-time lead scoring and marketing triggers from an e-commerce clickstream.

Read first: `events` (the input format), `rules` (the rules file), `journey`
(what one event or one due timer does to a contact), `engine` (the batch step),
`state` (the Redis key layout). `dataflows/clickstream.py` wires them together.
"""

from __future__ import annotations

from pulse.errors import (
    ConfigError,
    ConnectorError,
    EventError,
    PulseError,
    RuleError,
    StateError,
)
from pulse.events import Event, Rejected, decode_event
from pulse.rules import Rules, load_rules
from pulse.triggers import Trigger

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
