"""Reading back, offline, what a run left in Redis: triggers, contact states, a whole prefix.

The readers live in the Redis seam, `pulse.state.outbox`; this module keeps their
old import path.
"""

from __future__ import annotations

from pulse.state.outbox import (
    delete_prefix,
    iter_states,
    iter_triggers,
    read_triggers,
    recent_triggers,
)

__all__ = ["delete_prefix", "iter_states", "iter_triggers", "read_triggers", "recent_triggers"]
