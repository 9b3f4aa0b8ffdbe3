"""The engine's identity work in a batch: aliases, merges and hand-offs between parts.

`pulse.identity` says what a merge does to two states; this is where the engine
finds the states a batch's identifies link and anonymous events resolve to, and
does the merge in event order (see "Identity" in `pulse.engine`). With worker
processes (`--workers N`), an identify across parts is a hand-off (`pulse.handoff`):
the anonymous id's part hands its state over, the contact's part merges it.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any, Literal, cast

import msgspec

from pulse.batchwork import BatchWork
from pulse.config import Part
from pulse.contact import ContactState
from pulse.events import Event
from pulse.handoff import PartIdentity
from pulse.identity import Alias, Handoff, anonymous_key, merge_key, merge_states
from pulse.journey import Journey
from pulse.state import ContactStore, Merge
from pulse.state.handoffs import Adoption, HandoffOut

__all__ = ["Linker", "Route"]

log = logging.getLogger(__name__)

Route = Literal["own", "other", "adopted", "out", "in"]
"""Where an event goes in a worker process (`Linker.route`): `own`, this part's alone;
`other`, another part applies it; `adopted`, an anonymous event of an id this part
adopted; `out`, an identify handing this part's anonymous id to another part; `in`,
one bringing another part's anonymous id to this part's contact."""


class Linker:
    """Aliases and adoptions known to this engine (bounded, never changing), and the
    batch steps that link anonymous ids to contacts."""

    def __init__(self, store: ContactStore, size: int, part: Part | None = None) -> None:
        self.store = store
        self.size = size
        self.cross = PartIdentity(part, store) if part is not None else None
        """Worker processes: identity across parts (`pulse.handoff`)."""
        self.aliases: dict[str, Alias] = {}
        """Aliases read or made (committed); an alias never changes."""
        self.adopted: dict[str, str] = {}
        """Other parts' anonymous keys adopted (committed) -> their contact."""

    def clear(self) -> None:
        """Forget what may be ahead of Redis (a batch failed)."""
        self.aliases.clear()
        self.adopted.clear()

    def remember(self, work: BatchWork) -> None:
        """Keep what a committed batch read and made."""
        self.aliases.update(work.aliases)
        _bound(self.aliases, self.size)
        self.adopted.update(work.adopted)
        _bound(self.adopted, self.size)

    def route(self, work: BatchWork, event: Event) -> Route:
        """Which part applies an event with an anonymous id (always `own` in one process)."""
        cross = self.cross
        if cross is None:
            return "own"
        if cross.is_foreign_anonymous(event):
            return "adopted" if event.key in work.adopted else "other"
        return cast(Route, cross.crossing(event) or "own")

    def resolve(
        self,
        work: BatchWork,
        anonymous: dict[str, str],
        read: dict[str, Alias],
        states: dict[str, ContactState],
        partitions: dict[str, str],
        cache: dict[str, ContactState],
        targets: list[str],
    ) -> None:
        """Note the batch's aliases; load the contacts they (and `targets`) resolve to;
        take in the anonymous states identifies link (from the cache or the read)."""
        aliases = work.aliases
        for key, partition in anonymous.items():
            alias = read.get(key) or self.aliases.get(key)
            if alias is not None:
                aliases[key] = alias
                contact = alias.contact
                if alias.partition == partition and contact not in partitions:
                    partitions[contact] = partition
                    if contact not in states and contact not in cache:
                        targets.append(contact)
            if key not in partitions:
                state = states.pop(key, None) or cache.get(key)
                if state is None or not state.last_ts:
                    continue  # nothing to move: the alias alone is written
                if state.home != partition:
                    work.foreign.add(key)  # another partition's: not this process's to move
                else:
                    states[key] = state
                    partitions[key] = partition
        if targets:
            states.update(self.store.load(targets, {}, skip=cache)[0])

    def adopt(
        self,
        work: BatchWork,
        foreign: dict[str, str],
        states: dict[str, ContactState],
        partitions: dict[str, str],
        cache: dict[str, ContactState],
    ) -> list[str]:
        """Worker processes: note which of other parts' anonymous keys this process
        adopted; returns the contacts they resolve to that are not loaded yet."""
        assert work.cross is not None and self.cross is not None
        read, targets = work.cross.adopted, []
        for key, partition in foreign.items():
            contact = read.get(key) or self.adopted.get(key)
            if contact is None or not self.cross.owns(contact):
                continue  # not adopted, or by a third part (it applies them)
            work.adopted[key] = contact
            if contact not in partitions:
                partitions[contact] = partition
                if contact not in states and contact not in cache:
                    targets.append(contact)
        return targets

    def identify(
        self, work: BatchWork, event: Event, partition: str, journey: Journey
    ) -> Event | None:
        """The event, re-keyed to its contact when its anonymous key has an alias here;
        an identify's merge done first. None: it resolves to another worker process's
        contact, which applies it (`pulse.handoff`)."""
        key = event.key
        if event.contact_id is not None:
            if merge_key(event.type, key, event.anonymous_id) is not None:
                self._merge(work, event, partition, journey)
            return event
        alias = work.aliases.get(key)
        if alias is None:
            return event
        if self.cross is not None and not self.cross.owns(alias.contact):
            return None
        if alias.partition != partition:
            work.counters["identity:alias_elsewhere"] += 1
            return event
        return msgspec.structs.replace(event, key=alias.contact)

    def _merge(self, work: BatchWork, event: Event, partition: str, journey: Journey) -> None:
        """An identify links its anonymous id: move that state into the contact, once."""
        assert event.anonymous_id is not None
        anon, contact = anonymous_key(event.anonymous_id), event.key
        counters = work.counters
        alias = work.aliases.get(anon)
        if alias is not None:
            if alias.contact != contact:
                counters["identity:alias_conflict"] += 1  # the first link wins
            return
        work.aliases[anon] = Alias(contact, partition)
        state = work.states.get(anon)
        if state is not None and state.last_ts and state.home == partition:
            journey.fire_due(state, anon, event.ts_ms, work.fired)
            merge_states(work.states[contact], state, journey.rules.scoring, counters)
            counters["identity:merged"] += 1
            _drop_merged(work, anon)
            work.due_fresh.discard(contact)
            work.merges.append(Merge(anon, contact, partition, home=partition))
            return
        _note_elsewhere(work, anon, contact, partition, state)
        work.merges.append(Merge(anon, contact, partition))

    def hand_off(
        self, work: BatchWork, event: Event, partition: str, token: str, journey: Journey
    ) -> None:
        """An identify linking this part's anonymous id to another part's contact: link
        it, and hand the state over to the contact's part, which merges it."""
        assert event.anonymous_id is not None and self.cross is not None
        anon, contact = anonymous_key(event.anonymous_id), event.key
        if any(out.anonymous_key == anon and out.token == token for out in work.handoffs_out):
            return  # the same identify twice on one line: handed off once
        alias = work.aliases.get(anon)
        if alias is not None:
            outcome = Handoff("linked" if alias.contact == contact else "conflict")
            self._send(work, HandoffOut(anon, token, outcome))
            return
        target = self.cross.part.partition_of(contact, partition)
        work.aliases[anon] = Alias(contact, target)
        state = work.states.get(anon)
        if state is not None and state.last_ts and state.home == partition:
            journey.fire_due(state, anon, event.ts_ms, work.fired)  # as one process would
            _drop_merged(work, anon)
            work.merges.append(Merge(anon, contact, target, home=partition))
            self._send(work, HandoffOut(anon, token, Handoff("moved", state)))
            return
        _note_elsewhere(work, anon, contact, partition, state)
        work.merges.append(Merge(anon, contact, target))
        self._send(work, HandoffOut(anon, token, Handoff("linked")))

    def _send(self, work: BatchWork, out: HandoffOut) -> None:
        """Write a hand-off at once, not with the commit: the contact's process may be
        at this identify already, waiting for it (before the commit that deletes the
        state, so a crash loses nothing)."""
        assert self.cross is not None
        self.cross.send(out)
        work.handoffs_out.append(out)

    def take_handoff(self, work: BatchWork, event: Event, token: str, journey: Journey) -> None:
        """An identify bringing another part's anonymous id to this part's contact: merge
        the state that part hands over (read with the batch, or waited for)."""
        assert event.anonymous_id is not None and self.cross is not None
        assert work.cross is not None
        anon, contact, counters = anonymous_key(event.anonymous_id), event.key, work.counters
        if any(a.anonymous_key == anon and a.token == token for a in work.adoptions):
            return  # the same identify twice on one line: taken once
        handoff = work.cross.handoffs.get((anon, token))
        if handoff is None:
            handoff = self.cross.wait(anon, token, event)
            if handoff is None:
                counters["identity:handoff_missing"] += 1
                return
        if handoff.outcome == "conflict":
            counters["identity:alias_conflict"] += 1  # the first link wins
            work.adoptions.append(Adoption(anon, "", token))
            return
        work.adopted[anon] = contact
        work.adoptions.append(Adoption(anon, contact, token))
        if handoff.state is not None:
            merge_states(work.states[contact], handoff.state, journey.rules.scoring, counters)
            counters["identity:merged"] += 1
            work.due_fresh.discard(contact)


def _drop_merged(work: BatchWork, anon: str) -> None:
    """The anonymous state moved out: deleted at commit, never served again."""
    work.merged.add(anon)
    work.states[anon] = ContactState()
    work.dirty.discard(anon)
    work.next_due.pop(anon, None)
    work.due_fresh.add(anon)


def _note_elsewhere(
    work: BatchWork, anon: str, contact: str, partition: str, state: ContactState | None
) -> None:
    if anon in work.foreign or (state is not None and state.last_ts):
        work.counters["identity:merge_elsewhere"] += 1
        log.warning(
            "`%s` identifies as `%s` on partition `%s`, but its state belongs to another "
            "partition: alias written, state not merged",
            anon, contact, partition,
        )  # fmt: skip


def _bound(known: dict[str, Any], size: int) -> None:
    """Keep a map of never-changing facts (aliases, adoptions) bounded: oldest out."""
    excess = len(known) - size
    if excess > 0:
        for key in list(itertools.islice(known, excess + size // 10)):
            del known[key]
