"""The batch step: decoded events in, state updated in Redis, triggers out.

`Engine.process` is what the dataflow's batch step calls. For each batch it
loads the states of the contacts in it (and of contacts whose timers the
watermark has passed) in one round trip, applies the events in arrival order
with `Journey`, fires due timers, and commits everything (states, timer index,
triggers, counters, the model) in one atomic write.

The online model learns at event-time checkpoints. When an event's watermark
crosses one mid-batch, every timer due before the checkpoint fires first (the
batch loaded all such contacts up front), then the model learns: exactly what
would have happened had the batch been cut at that event.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable

import msgspec

from pulse.contact import ContactState
from pulse.events import Event, Rejected
from pulse.journey import Journey
from pulse.model import LeadModel
from pulse.rules import Rules
from pulse.state import ContactStore
from pulse.training import ModelRole
from pulse.triggers import Trigger, iso_ms

__all__ = ["Engine", "SourceBatch"]

log = logging.getLogger(__name__)


class SourceBatch(msgspec.Struct, kw_only=True):
    """One batch from one source partition: its events, dead letters and watermark."""

    partition: str
    events: list[Event] = []
    watermarks: list[int] = []
    """Per event, the partition's watermark just before it arrived."""
    rejected: list[Rejected] = []
    watermark_ms: int
    """The partition's watermark after the batch: timers due before it fire."""


class _Work:
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
        """Each held contact's next timer, kept current, so firing skips the others."""

    def add(self, states: dict[str, ContactState], partitions: dict[str, str]) -> None:
        for key, state in states.items():
            if key not in self.states:
                self.states[key] = state
                self.stages_before[key] = state.stage if state.last_ts else None
                self.track_due(key, state)
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
        moves: Counter[str] = Counter()
        for key, state in self.states.items():
            before = self.stages_before[key]
            if before != state.stage:
                if before is not None:
                    moves[before] -= 1
                moves[state.stage] += 1
        return moves


class Engine:
    """Applies batches to the contact store under one rules version."""

    def __init__(self, rules: Rules, store: ContactStore) -> None:
        self.store = store
        self.role = ModelRole(store, rules.model) if rules.model.enabled else None
        self.journey = Journey(rules, self.role.model if self.role else None)
        self.totals: Counter[str] = Counter()

    def swap_rules(self, rules: Rules) -> None:
        """Apply `rules` from the next batch on (hot reload); state and the model carry over."""
        if rules is not self.journey.rules:
            self.journey = Journey(rules, self.journey.model)

    def process(self, batches: Iterable[SourceBatch]) -> list[Trigger | Rejected]:
        """Apply batches; returns the fired triggers and every dead letter."""
        batches = list(batches)
        work = _Work()
        keys: dict[str, str] = {}
        watermarks: dict[str, int] = {}
        for batch in batches:
            for event in batch.events:
                keys.setdefault(event.key, batch.partition)
            watermarks[batch.partition] = max(
                watermarks.get(batch.partition, batch.watermark_ms), batch.watermark_ms
            )
        self._load(work, keys, watermarks)

        out: list[Trigger | Rejected] = []
        for batch in batches:
            out.extend(batch.rejected)
            work.counters["rejected"] += len(batch.rejected)
            self._apply_events(batch, work, out)
        self._fire_due(work, watermarks)
        if self.model is not None:
            checkpoint = self.model.next_checkpoint_ms(min(watermarks.values()))
            if checkpoint is not None:
                self._learn(checkpoint)

        changed = work.changed()
        emitted_at = iso_ms(int(time.time() * 1000))
        stamped = [msgspec.structs.replace(t, emitted_at=emitted_at) for t in work.fired]
        for trigger in stamped:
            work.counters["triggers"] += 1
            work.counters[f"trigger:{trigger.trigger}"] += 1
        model, is_new_version = self.role.take_published() if self.role else (None, False)
        self.store.commit(
            changed,
            work.partitions,
            stamped,
            work.counters,
            work.stage_moves(),
            model=model,
            is_new_version=is_new_version,
            shipping=self.role.shipping() if self.role else None,
        )
        self.totals.update(work.counters)
        out.extend(stamped)
        return out

    def _fire_due(self, work: _Work, watermarks: dict[str, int] | int) -> None:
        """Fire timers due before their partition's watermark (or one time for all)."""

        def until(key: str) -> int | None:
            if isinstance(watermarks, int):
                return watermarks
            return watermarks.get(work.partitions[key])

        for key, due in list(work.next_due.items()):
            limit = until(key)
            if limit is None or due >= limit:
                continue
            state = work.states[key]
            work.dirty.add(key)
            self.journey.fire_due(state, key, limit, work.fired)
            work.track_due(key, state)

    def _load(self, work: _Work, keys: dict[str, str], due_before: dict[str, int]) -> None:
        """Load the batch's contacts and those with timers due, skipping ones held."""
        wanted = [k for k in keys if k not in work.states]
        states, due = self.store.load(wanted, due_before, skip=work.states.keys())
        partitions = dict(keys)
        for partition, contacts in due.items():
            for key in contacts:
                partitions.setdefault(key, partition)
        work.add(states, partitions)

    def _apply_events(self, batch: SourceBatch, work: _Work, out: list[Trigger | Rejected]) -> None:
        journey = self.journey
        role = self.role
        states, counters = work.states, work.counters
        for event, watermark_ms in zip(batch.events, batch.watermarks, strict=True):
            # `role.model` is read each time: a loader may load a new model at a checkpoint.
            if role is not None and watermark_ms > role.model.checkpoint_ms:
                checkpoint = role.model.next_checkpoint_ms(watermark_ms)
                if checkpoint is not None:
                    self._checkpoint(work, checkpoint)
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
            work.dirty.add(event.key)
            journey.apply(state, event, watermark_ms, work.fired)
            work.track_due(event.key, state)

    def _checkpoint(self, work: _Work, checkpoint_ms: int) -> None:
        """Fire every timer due before the checkpoint, then let the model learn.

        No Redis read: the batch already loaded every contact with a timer due before
        its final watermark, and a checkpoint inside the batch is never past that.
        """
        self._fire_due(work, checkpoint_ms)
        self._learn(checkpoint_ms)

    def close(self) -> None:
        """Hand the trainer role back at a clean stop, so a restart need not wait for it."""
        if self.role is not None:
            self.role.release()

    @property
    def model(self) -> LeadModel | None:
        """The model this engine predicts with (the trainer's, or the last it loaded)."""
        return self.role.model if self.role else None

    def _learn(self, checkpoint_ms: int) -> None:
        assert self.role is not None
        learned = self.role.checkpoint(checkpoint_ms)
        self.journey.model = self.role.model
        if learned:
            quality = self.role.model.quality()
            log.debug(
                "model learned %d labels up to %s: %d in all, ROC AUC %.3f, log loss %.3f",
                learned, iso_ms(checkpoint_ms), quality["labels"],
                quality["roc_auc"], quality["log_loss"],
            )  # fmt: skip
