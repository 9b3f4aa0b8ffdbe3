"""Failpoints: kill the process with SIGKILL at a named point, for the crash tests.

`PULSE_FAILPOINT=relay.after_produce@3` kills the process the third time the
relay has had a batch acknowledged by Kafka but not yet recorded its cursor in
Redis. The crash tests use these to hit the narrow windows a timer-based kill
would almost never land in. Unset (always, outside tests) it costs one
comparison per batch.

Points: `relay.before_produce` (triggers committed to the Redis stream, none
sent), `relay.after_produce` (sent and acknowledged, cursor not recorded),
`source.after_batch` (a batch handed to the flow, offsets not yet snapshotted).
"""

from __future__ import annotations

import logging
import os
import signal
from collections import Counter

__all__ = ["ENV", "failpoint"]

ENV = "PULSE_FAILPOINT"

_name, _, _nth = os.environ.get(ENV, "").partition("@")
_AT = int(_nth or 1)
_hits: Counter[str] = Counter()


def failpoint(name: str) -> None:
    """SIGKILL this process if `name` is the armed failpoint and this is its armed hit."""
    if name != _name:
        return
    _hits[name] += 1
    if _hits[name] == _AT:
        logging.getLogger("pulse.kafka").warning("failpoint %s@%d: killing the process", name, _AT)
        os.kill(os.getpid(), signal.SIGKILL)
