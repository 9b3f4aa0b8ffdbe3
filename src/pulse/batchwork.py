"""What one batch of the engine works on: the contacts it touches and what it makes.

The engine (`pulse.engine.Engine`) fills a `BatchWork` as it loads, applies and
fires, then commits it in one atomic write; nothing here talks to Redis.
"""

from __future__ import annotations

from collections import Counter

from pulse.contact import ContactState
from pulse.identity import Alias
from pulse.state import Merge
from pulse.state.handoffs import Adoption, CrossReads, HandoffOut
from pulse.triggers import Trigger

__all__ = ["BatchWork"]


class BatchWork:
    """The contacts one batch touches: their states, partitions and stages before."""

    def __init__(self) -> None:
        self.states: dict[str, ContactState] = {}
        self.partitions: dict[str, str] = {}
        self.stages_before: dict[str, str | None] = {}
        self.dirty: set[str] = set()
        """Contacts whose state changed: only these are written back."""
        self.fired: list[Trigger] = []
        self.counters: Counter[str] = Counter()
        self.next_due: dict[str, int] = {}
        """Each held contact's next timer, so firing skips the others (see `due_fresh`)."""
        self.due_fresh: set[str] = set()
        """Contacts whose `next_due` is current (applying an event makes it stale): each
        contact's next due time is computed once per batch, not once per event."""
        self.aliases: dict[str, Alias] = {}
        """Known aliases of the batch's anonymous keys, and those its merges make."""
        self.merges: list[Merge] = []
        self.merged: set[str] = set()
        """Anonymous keys whose state moved into a contact (deleted at commit)."""
        self.foreign: set[str] = set()
        """Anonymous keys an identify links whose state belongs to another partition."""
        # Worker processes (`pulse.handoff`): identity across parts.
        self.cross: CrossReads | None = None
        """Adoptions and hand-offs read with the batch's states."""
        self.adopted: dict[str, str] = {}
        """Other parts' anonymous keys this process adopted -> their contact."""
        self.handoffs_out: list[HandoffOut] = []
        """Hand-offs made in this batch (written at once, `PartIdentity.send`)."""
        self.adoptions: list[Adoption] = []
        """Hand-offs taken: deleted, and their adoption written, at commit."""

    def add(self, states: dict[str, ContactState], partitions: dict[str, str]) -> None:
        for key, state in states.items():
            if key not in self.states:
                self.states[key] = state
                self.stages_before[key] = state.stage if state.last_ts else None
        for key, partition in partitions.items():
            self.partitions.setdefault(key, partition)

    def track_due(self, key: str, state: ContactState) -> None:
        due = state.next_due_ms()
        if due is None:
            self.next_due.pop(key, None)
        else:
            self.next_due[key] = due

    def changed(self) -> dict[str, ContactState]:
        return {key: self.states[key] for key in self.dirty}

    def stage_moves(self) -> Counter[str]:
        """Stage counts to move: only contacts this batch changed (a contact loaded and
        left alone, new or not, has not moved, whatever its state says)."""
        moves: Counter[str] = Counter()
        for key in self.dirty | self.merged:
            state, before = self.states[key], self.stages_before[key]
            if key in self.merged:
                if before is not None:
                    moves[before] -= 1  # the anonymous contact is gone
                continue
            if before != state.stage:
                if before is not None:
                    moves[before] -= 1
                moves[state.stage] += 1
        return moves
