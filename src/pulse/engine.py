"""The batch step: decoded events in, state updated in Redis, triggers out.

`Engine.process` is what the dataflow's batch step calls. For each batch it
loads the states of the contacts in it (and of contacts whose timers the
watermark has passed) in one round trip, applies the events in arrival order
with `Journey`, fires due timers, and commits everything in one atomic write.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable

import msgspec

from pulse.contact import ContactState
from pulse.events import Event, Rejected
from pulse.journey import Journey
from pulse.rules import Rules
from pulse.state import ContactStore
from pulse.triggers import Trigger, iso_ms

__all__ = ["Engine", "SourceBatch"]


class SourceBatch(msgspec.Struct, kw_only=True):
    """One batch from one source partition: its events, dead letters and watermark."""

    partition: str
    events: list[Event] = []
    watermarks: list[int] = []
    """Per event, the partition's watermark just before it arrived."""
    rejected: list[Rejected] = []
    watermark_ms: int
    """The partition's watermark after the batch: timers due before it fire."""


class Engine:
    """Applies batches to the contact store under one rules version."""

    def __init__(self, rules: Rules, store: ContactStore) -> None:
        self.journey = Journey(rules)
        self.store = store
        self.totals: Counter[str] = Counter()

    def process(self, batches: Iterable[SourceBatch]) -> list[Trigger | Rejected]:
        """Apply batches; returns the fired triggers and every dead letter."""
        batches = list(batches)
        partitions: dict[str, str] = {}
        for batch in batches:
            for event in batch.events:
                partitions.setdefault(event.key, batch.partition)
        due_before: dict[str, int] = {}
        for batch in batches:
            due_before[batch.partition] = max(
                due_before.get(batch.partition, batch.watermark_ms), batch.watermark_ms
            )
        states, due = self.store.load(list(partitions), due_before)
        for partition, contacts in due.items():
            for key in contacts:
                partitions.setdefault(key, partition)
        stages_before = {key: _stage(state) for key, state in states.items()}

        out: list[Trigger | Rejected] = []
        fired: list[Trigger] = []
        counters: Counter[str] = Counter()
        for batch in batches:
            out.extend(batch.rejected)
            counters["rejected"] += len(batch.rejected)
            self._apply_events(batch, states, fired, out, counters)
        for key, state in states.items():
            self.journey.fire_due(state, key, due_before[partitions[key]], fired)

        stage_moves: Counter[str] = Counter()
        for key, state in states.items():
            self.journey.compact(state)
            before = stages_before[key]
            if before != state.stage:
                if before is not None:
                    stage_moves[before] -= 1
                stage_moves[state.stage] += 1
        emitted_at = iso_ms(int(time.time() * 1000))
        stamped = [msgspec.structs.replace(t, emitted_at=emitted_at) for t in fired]
        for trigger in stamped:
            counters["triggers"] += 1
            counters[f"trigger:{trigger.trigger}"] += 1
        self.store.commit(states, partitions, stamped, counters, stage_moves)
        self.totals.update(counters)
        out.extend(stamped)
        return out

    def _apply_events(
        self,
        batch: SourceBatch,
        states: dict[str, ContactState],
        fired: list[Trigger],
        out: list[Trigger | Rejected],
        counters: Counter[str],
    ) -> None:
        journey = self.journey
        for event, watermark_ms in zip(batch.events, batch.watermarks, strict=True):
            state = states[event.key]
            skip = journey.admit(state, event)
            if skip is not None:
                if skip == "duplicate":
                    counters["duplicates"] += 1
                else:
                    counters["stale"] += 1
                    raw = msgspec.json.encode(event).decode()
                    out.append(Rejected(skip, raw, batch.partition, -1))
                continue
            if event.ts_ms < watermark_ms:
                counters["late"] += 1
            counters["events"] += 1
            journey.apply(state, event, watermark_ms, fired)


def _stage(state: ContactState) -> str | None:
    return state.stage if state.last_ts else None
