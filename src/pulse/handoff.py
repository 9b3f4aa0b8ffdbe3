"""Identity across worker processes: an identify's anonymous state handed between parts.

With `--workers N` every process reads the whole input and keeps its part's contacts
(`pulse.config.Part`, `pulse.identity.part_takes`). An `identify` (or `signup`,
`alias`, `login`) whose anonymous id belongs to one part, A, and whose contact to
another, B, is read by both, at the same place in the same event-time order:

- A applies the anonymous id's events up to the identify, fires its timers due
  before it (as one process would before merging), hands the state over, and writes
  the alias and deletes the anonymous state with its batch commit. The `Handoff`
  record, named by the identify (`pulse.identity.handoff_token`), is written at once,
  when A reaches the identify, ahead of that commit: B may be waiting for it.
- B, at the same identify, takes the record (read with the batch's states or, when
  A is behind, waited for), merges the state into the contact exactly as one process
  would, and with its commit deletes the record and writes the adoption
  `anon:<id> -> contact`.
- Every part reads anonymous events: B applies those of ids it adopted to the
  contact (an adoption is written only after B merged, so an event before the
  identify never resolves early, even when A is ahead), A drops those whose alias
  names another part's contact, the other parts drop them.

No deadlock: every part releases events in the same order (same input, same
watermark), and writes each hand-off as it reaches its identify, so a part waiting
at an identify waits for the other to reach it, and anything that one may wait for
lies before it, already written. Nothing is dropped when a process stops: the
hand-off is written before the commit that deletes the state, and merged once (the
commit that merges it deletes it and moves the positions past the identify). A part
that stops between the two writes it again when it restarts; one taken already stays
until its TTL.
"""

from __future__ import annotations

import logging
import time

from pulse.config import Part
from pulse.events import Event
from pulse.identity import Handoff, handoff_token, merge_key
from pulse.state import ContactStore
from pulse.state.handoffs import HandoffOut, read_handoff, write_handoffs

__all__ = ["HANDOFF_WAIT_S", "PartIdentity"]

log = logging.getLogger(__name__)

HANDOFF_WAIT_S = 300.0
"""How long a process waits for another's hand-off before it carries on without it
(counted `identity:handoff_missing`, logged as an error): the other process reads
the same input, so only a stopped or far slower process makes it wait this long."""
_POLL_FIRST_S, _POLL_MAX_S, _LOG_EVERY_S = 0.0005, 0.02, 10.0


class PartIdentity:
    """One worker process's side of identity across parts: which events are whose,
    and the waiting for another part's hand-off."""

    def __init__(self, part: Part, store: ContactStore, wait_s: float = HANDOFF_WAIT_S) -> None:
        self.part = part
        self.store = store
        self.wait_s = wait_s

    def owns(self, key: str) -> bool:
        return self.part.owns(key)

    def is_foreign_anonymous(self, event: Event) -> bool:
        """An anonymous event of another part's id: applied here only if adopted."""
        return event.contact_id is None and not self.part.owns(event.key)

    def crossing(self, event: Event) -> str | None:
        """`"out"` for an identify handing this part's anonymous id to another part's
        contact, `"in"` for one bringing another part's anonymous id to this part's
        contact, else None (the event is this part's alone)."""
        linked = merge_key(event.type, event.contact_id, event.anonymous_id)
        if linked is None:
            return None  # not an identify: the contact's part alone applies it
        anonymous_is_mine = self.part.owns(linked)
        if not self.part.owns(event.key):
            return "out" if anonymous_is_mine else None
        return None if anonymous_is_mine else "in"

    def token(self, event: Event, stream: str, offset: int) -> str:
        """The identify's hand-off name, alike in every part: the position stream
        without this part's suffix (`pulse.connectors.files.part_name`)."""
        shared = stream.removesuffix("@" + self.part.name)
        return handoff_token(event.key, event.ts_ms, shared, offset)

    def send(self, out: HandoffOut) -> None:
        """Write a hand-off at once: the contact's process may be waiting for it."""
        store = self.store
        write_handoffs(store.client, store.layout, [out], store.state_ttl_s)

    def wait(self, anonymous: str, token: str, event: Event) -> Handoff | None:
        """Wait for the hand-off of an identify another part is yet to reach."""
        store = self.store
        started = time.monotonic()
        delay, next_log = _POLL_FIRST_S, started + _LOG_EVERY_S
        while True:
            found = read_handoff(store.client, store.layout, anonymous, token)
            if found is not None:
                return found
            now = time.monotonic()
            if now - started >= self.wait_s:
                log.error(
                    "`%s` identifies as `%s` at %d, but the worker process of `%s` did not "
                    "hand its state over within %gs: carrying on without it",
                    anonymous, event.key, event.ts_ms, anonymous, self.wait_s,
                )  # fmt: skip
                return None
            if now >= next_log:
                log.info(
                    "waiting %.0fs for the worker process of `%s` to reach its identify "
                    "as `%s` (event time %d)",
                    now - started, anonymous, event.key, event.ts_ms,
                )  # fmt: skip
                next_log = now + _LOG_EVERY_S
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)
