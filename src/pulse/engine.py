"""The batch step: released events in, state updated in Redis, triggers out.

`Engine.process` is what the dataflow's batch step calls. For each batch it
takes the states of the contacts in it (and of contacts whose timers the
watermark has passed) from its cache or, for the others, from Redis in one round
trip; skips events the committed source positions say were applied already (a
replay after a crash); applies the rest in the order the sources released them
(event time) with `Journey`; fires due timers; and commits everything (states,
timer index, triggers, counters, the model, the new source positions) in one
atomic write.

The cache: this process owns its partitions, and so the contacts in them; Redis
stays the state of record, written every batch, but the states this process
wrote are served from memory (bounded, oldest evicted) instead of read back and
decoded. A contact sending many events in a batch is loaded and written once.

Identity (see `pulse.identity`): an event keyed by an anonymous id whose alias is
known is applied to the contact it resolves to; an `identify` (or `signup`,
`alias`, `login`) naming both ids moves the anonymous state into the contact,
and the alias and the deletion of the anonymous state are part of the batch's
commit. Aliases are read with the batch's states, in the same round trip, and
kept in a bounded map. Both happen only within one source partition (a Kafka
source partition merges its group of Kafka partitions): an alias made on another
partition, or an anonymous state whose events come from another one, is left
alone and counted (`identity:alias_elsewhere`,
`identity:merge_elsewhere`), never merged by a process that does not own it.
Worker processes (`--workers N`) split one partition's contacts: there an identify
across parts is a hand-off (`pulse.linking`, `pulse.handoff`), and each event with an
anonymous id is routed first (`Linker.route`): applied here, by another part, or to
the contact this part adopted the id into.

The online model learns at event-time checkpoints. When the released events
cross one mid-batch, every timer due before the checkpoint fires first (the
batch loaded all such contacts up front), then the model learns: exactly what
would have happened had the batch been cut at that event.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import time
from collections import Counter
from collections.abc import Iterable

import msgspec

from pulse import guardrails
from pulse.batch import SourceBatch, StreamPosition
from pulse.batchwork import BatchWork
from pulse.config import Part
from pulse.contact import ContactState
from pulse.events import Event, Rejected
from pulse.facts import is_duplicate
from pulse.identity import anonymous_key, is_anonymous, merge_key
from pulse.journey import Journey
from pulse.linking import Linker
from pulse.model import LeadModel
from pulse.rules import Rules
from pulse.state import ContactStore
from pulse.state.handoffs import CrossReads
from pulse.state.suppression import BatchGuards, batch_guards
from pulse.training import ModelRole
from pulse.triggers import Trigger, iso_ms

__all__ = ["DEFAULT_CACHE_CONTACTS", "Engine", "SourceBatch"]

log = logging.getLogger(__name__)

DEFAULT_CACHE_CONTACTS = 200_000
"""Decoded contact states kept in memory per engine (a few KiB each at most)."""


class Engine:
    """Applies batches to the contact store under one rules version."""

    def __init__(
        self,
        rules: Rules,
        store: ContactStore,
        cache_contacts: int = DEFAULT_CACHE_CONTACTS,
        part: Part | None = None,
    ) -> None:
        self.store = store
        self.linker = Linker(store, cache_contacts, part)
        store.mark_run()
        self.role = ModelRole(store, rules.model) if rules.model.enabled else None
        self.journey = Journey(rules, self.role.model if self.role else None)
        self.totals: Counter[str] = Counter()
        self.cache_contacts = cache_contacts
        self._cache: dict[str, ContactState] = {}
        self._positions: dict[str, StreamPosition] = {}
        """Committed position of every stream seen (read from Redis once, then kept)."""
        self._known_streams: set[str] = set()
        self._marks: dict[str, int] = {}
        """Each partition's latest watermark: model checkpoints wait for the slowest."""
        self._guards = BatchGuards()
        """The batch's tombstoned contacts (events skipped) and suppression list entries."""
        self.last_commit_s = 0.0
        """Wall seconds the last batch's commit to Redis took (read by `pulse.metrics`)."""

    def swap_rules(self, rules: Rules) -> None:
        """Apply `rules` from the next batch on (hot reload); state and the model carry over."""
        if rules is not self.journey.rules:
            self.journey = Journey(rules, self.journey.model)

    def process(self, batches: Iterable[SourceBatch]) -> list[Trigger | Rejected]:
        """Apply batches; returns the fired triggers and every dead letter."""
        try:
            # A context of its own: the batch's suppression list (`_load`) ends with it.
            return contextvars.copy_context().run(self._process, list(batches))
        except BaseException:
            # What the cache holds may be ahead of Redis now: never serve it again.
            self._cache.clear()
            self.linker.clear()
            raise

    def _process(self, batches: list[SourceBatch]) -> list[Trigger | Rejected]:
        work = BatchWork()
        if self.role is not None:
            self.role.begin_batch()
        self._load(work, batches)
        out: list[Trigger | Rejected] = []
        for batch in batches:
            out.extend(batch.rejected)
            work.counters["rejected"] += len(batch.rejected)
            work.counters["late"] += len(batch.late_at)
            self._apply_events(batch, work)
            self._marks[batch.partition] = batch.watermark_ms
        watermarks = {b.partition: b.watermark_ms for b in batches}
        self._fire_due(work, watermarks)
        if self.model is not None:
            checkpoint = self.model.next_checkpoint_ms(min(self._marks.values()))
            if checkpoint is not None:
                self._learn(checkpoint)
        work.counters.update(self.journey.skipped)
        self.journey.skipped.clear()
        work.counters.update(self.journey.rule_stats)
        self.journey.rule_stats.clear()
        work.counters.update(self.journey.outcomes)  # lift: exposures, conversions
        self.journey.outcomes.clear()
        self._commit(work, self._advance_positions(batches))
        out.extend(work.fired)
        return out

    def _commit(
        self, work: BatchWork, positions: dict[str, tuple[StreamPosition | None, StreamPosition]]
    ) -> None:
        emitted_at = iso_ms(int(time.time() * 1000))
        work.fired = [msgspec.structs.replace(t, emitted_at=emitted_at) for t in work.fired]
        for trigger in work.fired:
            work.counters["triggers"] += 1
            work.counters[f"trigger:{trigger.trigger}"] += 1
            work.counters[f"decision:{trigger.decision}"] += 1
            work.counters[f"trigger_decision:{trigger.trigger}:{trigger.decision}"] += 1
            if trigger.suppressed_reason is not None:
                work.counters[f"decision:suppressed:{trigger.suppressed_reason}"] += 1
        model, is_new_version = self.role.take_published() if self.role else (None, False)
        changed = work.changed()
        if (
            changed
            or work.fired
            or +work.counters
            or positions
            or model is not None
            or work.adoptions
        ):
            started_s = time.perf_counter()
            self.store.commit(
                changed,
                work.partitions,
                work.fired,
                work.counters,
                work.stage_moves(),
                model=model,
                is_new_version=is_new_version,
                shipping=self.role.shipping() if self.role else None,
                positions=positions,
                next_due=work.next_due,  # current: the batch ended with `_fire_due`
                merges=work.merges,
                adoptions=work.adoptions,
            )
            self.last_commit_s = time.perf_counter() - started_s
        for stream, (_, new) in positions.items():
            self._positions[stream] = new
        self.totals.update(work.counters)
        self._remember(work.states)
        for key in work.merged:
            self._cache.pop(key, None)  # deleted by the merge: never serve it again
        self.linker.remember(work)

    def _advance_positions(
        self, batches: list[SourceBatch]
    ) -> dict[str, tuple[StreamPosition | None, StreamPosition]]:
        """Each stream's move: from its committed position to where these batches brought it.

        Never backwards: a replay re-reads offsets the committed position covers.
        """
        moves: dict[str, tuple[StreamPosition | None, StreamPosition]] = {}
        for batch in batches:
            for stream, new in batch.positions().items():
                old = moves[stream][1] if stream in moves else self._positions.get(stream)
                if old is not None:
                    new = StreamPosition(
                        max(old.read_to, new.read_to),
                        max(old.released_before_ms, new.released_before_ms),
                    )
                    if new == old:
                        continue
                moves[stream] = (self._positions.get(stream), new)
        return moves

    def _remember(self, states: dict[str, ContactState]) -> None:
        """Keep the batch's states (now committed) in the cache, evicting the oldest."""
        cache = self._cache
        for key, state in states.items():
            cache.pop(key, None)
            cache[key] = state  # re-inserted: the most recently used sit at the end
        excess = len(cache) - self.cache_contacts
        if excess > 0:
            for key in list(itertools.islice(cache, excess + self.cache_contacts // 10)):
                del cache[key]

    def _fire_due(self, work: BatchWork, watermarks: dict[str, int] | int) -> None:
        """Fire timers due before their partition's watermark (or one time for all)."""

        def until(key: str) -> int | None:
            if isinstance(watermarks, int):
                return watermarks
            return watermarks.get(work.partitions[key])

        # Loading and applying events changed timers: refresh those contacts' due times.
        if len(work.due_fresh) < len(work.states):
            for key in work.states.keys() - work.due_fresh:
                work.track_due(key, work.states[key])
            work.due_fresh.update(work.states)
        for key, due in list(work.next_due.items()):
            limit = until(key)
            if limit is None or due >= limit:
                continue
            state = work.states[key]
            work.dirty.add(key)
            self.journey.fire_due(state, key, limit, work.fired)
            work.track_due(key, state)

    def _load(self, work: BatchWork, batches: list[SourceBatch]) -> None:
        """Take the batches' contacts (and those with timers due) from the cache or Redis.

        Also reads, once per stream, the position committed for it.
        """
        cache = self._cache
        wanted: dict[str, str] = {}
        partitions: dict[str, str] = {}
        due_before: dict[str, int] = {}
        streams: set[str] = set()
        anonymous: dict[str, str] = {}  # anonymous keys named (as key, or by an identify)
        linker, cross = self.linker, self.linker.cross
        foreign: dict[str, str] = {}  # other parts' anonymous keys (adopted here?)
        handoffs: list[tuple[str, str]] = []  # identifies bringing another part's id here
        guarded: list[str] = []  # ids read here that another part may apply
        for batch in batches:
            partition = batch.partition
            for i, event in enumerate(batch.events):
                key = event.key
                if cross is not None and event.anonymous_id is not None:
                    # Both ids' tombstones, whichever part applies it: every part that
                    # reads the event must skip it alike (a hand-off never waited for).
                    guarded.extend((key, anonymous_key(event.anonymous_id)))
                    route = linker.route(work, event)
                    if route in ("other", "adopted"):
                        foreign.setdefault(key, partition)
                        continue
                    if route == "out":  # not this part's contact: only its state moves
                        anonymous.setdefault(anonymous_key(event.anonymous_id), partition)
                        continue
                    if route == "in":  # the anonymous state comes handed over
                        token = cross.token(event, batch.streams[i], batch.offsets[i])
                        handoffs.append((anonymous_key(event.anonymous_id), token))
                        event = msgspec.structs.replace(event, anonymous_id=None)
                if event.anonymous_id is not None:
                    linked = (
                        key
                        if event.contact_id is None
                        else merge_key(event.type, event.contact_id, event.anonymous_id)
                    )
                    if linked is not None:
                        anonymous.setdefault(linked, partition)
                if key not in partitions:
                    partitions[key] = partition
                    if key not in cache:
                        wanted[key] = partition
            # At the end of the input, released events can lie past the watermark; a
            # checkpoint among them fires the timers due before it: load those too.
            newest = batch.events[-1].ts_ms + 1 if batch.events else batch.watermark_ms
            due_before[partition] = max(
                due_before.get(partition, batch.watermark_ms), batch.watermark_ms, newest
            )
            streams.update(s for s in batch.read_to if s and s not in self._known_streams)
            # A resumed source re-releases events it held at its snapshot, possibly before
            # it reads anything more from their stream: their positions are needed too.
            streams.update(s for s in set(batch.streams) if s and s not in self._known_streams)
        lookups = [k for k in anonymous if k not in linker.aliases]
        for key, partition in anonymous.items():
            if key not in partitions and key not in cache:
                wanted.setdefault(key, partition)  # linked by an identify: its state moves
        if cross is not None:
            work.cross = CrossReads([k for k in foreign if k not in linker.adopted], handoffs)
        states, due, positions, aliases = self.store.load_batch(
            list(wanted), due_before, skip=cache, streams=streams, aliases=lookups,
            cross=work.cross,
        )  # fmt: skip
        targets = linker.adopt(work, foreign, states, partitions, cache) if foreign else []
        linker.resolve(work, anonymous, aliases, states, partitions, cache, targets)
        self._known_streams |= streams
        self._positions.update(positions)
        for partition, contacts in due.items():
            for key in contacts:
                partitions.setdefault(key, partition)
        self._guards = batch_guards(
            self.store.client, self.store.layout, [*partitions, *anonymous, *guarded]
        )
        guardrails.SUPPRESSED.set(self._guards.suppressed)
        for key in partitions:
            if key not in states:
                cached = cache.get(key)
                if cached is not None:
                    states[key] = cached
        work.add(states, partitions)

    def _apply_events(self, batch: SourceBatch, work: BatchWork) -> None:
        journey, role = self.journey, self.role
        states, counters = work.states, work.counters
        positions = self._positions
        others = min(
            (mark for part, mark in self._marks.items() if part != batch.partition),
            default=None,
        )
        events, offsets, streams, late_at = (
            batch.events,
            batch.offsets,
            batch.streams,
            batch.late_at,
        )
        linker = self.linker
        for i, event in enumerate(events):
            ts = event.ts_ms
            position = positions.get(streams[i]) if positions else None
            if position is not None and position.covers(offsets[i], ts):
                if linker.cross is None or linker.cross.owns(event.key):
                    counters["replayed"] += 1  # by one part only: every part reads it
                continue
            route = "own" if event.anonymous_id is None else linker.route(work, event)
            if route == "other":
                continue  # another worker process's contact: that process applies it
            if route == "adopted":
                event = msgspec.structs.replace(event, key=work.adopted[event.key])
            # `role.model` is read each time: a loader may load a new model at a checkpoint.
            if role is not None and ts > role.model.checkpoint_ms:
                checkpoint = role.model.next_checkpoint_ms(
                    ts if others is None else min(ts, others)
                )
                if checkpoint is not None:
                    self._checkpoint(work, checkpoint)
            if self._guards.tombstoned and self._is_tombstoned(event):
                if route != "out":  # the contact's process counts it
                    counters["tombstoned"] += 1  # deleted on request: never recreated
                continue
            if route in ("out", "in"):
                assert linker.cross is not None
                token = linker.cross.token(event, streams[i], offsets[i])
                if route == "out":
                    linker.hand_off(work, event, batch.partition, token, journey)
                    continue  # the contact is another process's: it applies the event
                linker.take_handoff(work, event, token, journey)
            elif route == "own" and event.anonymous_id is not None:
                resolved = linker.identify(work, event, batch.partition, journey)
                if resolved is None:
                    continue  # resolves to another process's contact: that one applies it
                event = resolved
            state = states[event.key]
            if is_duplicate(state, event):
                counters["duplicates"] += 1
                continue
            counters["events"] += 1
            if event.contact_id is None and not state.home and is_anonymous(event.key):
                state.home = batch.partition  # an anonymous contact's partition
            work.dirty.add(event.key)
            work.due_fresh.discard(event.key)
            journey.apply(state, event, work.fired, late_at.get(i, ts) if late_at else ts)

    def _is_tombstoned(self, event: Event) -> bool:
        dead, anonymous_id = self._guards.tombstoned, event.anonymous_id
        return event.key in dead or (
            anonymous_id is not None and anonymous_key(anonymous_id) in dead
        )

    def _checkpoint(self, work: BatchWork, checkpoint_ms: int) -> None:
        """Fire every timer due before the checkpoint, then let the model learn.

        No Redis read: the batch already loaded every contact with a timer due before
        its last released event, and a checkpoint inside the batch is never past that.
        """
        self._fire_due(work, checkpoint_ms)
        self._learn(checkpoint_ms)

    def close(self) -> None:
        """Hand the trainer role back at a clean stop, so a restart need not wait for it."""
        if self.role is not None:
            self.role.release()

    @property
    def cached_contacts(self) -> int:
        """Contact states held in memory (see the module docstring)."""
        return len(self._cache)

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
