"""The contact store: one read round trip and one atomic write per batch.

Every batch costs one read round trip (contact states not cached, due timers, the
positions of streams not seen yet) and one atomic write: on one server a single
Lua call (`pulse.state.lua.COMMIT`) writes states, timer index, triggers, counters,
the model and the source positions together or not at all, refuses a commit it
already applied (idempotent under client retries), and stops a flow whose Redis
lost its data. On a Redis Cluster a batch spans key groups (slots): it commits in
two phases (prepare per group, decide in the meta group, apply per group), so it
still lands whole or, when the writer stops between the phases, is finished by
the next process to start (`ContactStore.recover`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import redis

from pulse.batch import StreamPosition
from pulse.contact import ContactState, decode_state, encode_state
from pulse.errors import StateError
from pulse.identity import Alias, decode_alias, encode_alias
from pulse.state.handoffs import Adoption, CrossReads
from pulse.state.keys import DEFAULT_STATE_TTL_S, TRIGGER_STREAM_MAXLEN, KeyLayout
from pulse.state.lua import APPLY, COMMIT, PREPARE, CommitPart
from pulse.state.models import ModelRegistry
from pulse.state.reads import queue_mget
from pulse.state.seam import call, execute
from pulse.triggers import Trigger, encode_trigger

if TYPE_CHECKING:
    from pulse.model import LeadModel

__all__ = ["ContactStore", "Merge", "ModelShipping"]

log = logging.getLogger(__name__)


class Merge(msgspec.Struct, frozen=True, gc=False):
    """An anonymous contact linked to a known one, written with the batch (see `pulse.identity`).

    `home` is the partition whose timer index holds the anonymous state, when the
    state moved into the contact (it is deleted); empty when only the alias is written.
    """

    anonymous_key: str
    contact: str
    partition: str
    home: str = ""


class ModelShipping(msgspec.Struct):
    """What a batch writes for model sharing between processes (see `pulse.training`)."""

    owner: str
    lease_ms: int = 0
    """Renew the trainer lease for this long (trainer only)."""
    labels: list[Any] = []
    """Resolved labels for the trainer (loaders only)."""


_EXAMPLE_ENCODER = msgspec.msgpack.Encoder()


class ContactStore(ModelRegistry):
    """Loads and commits contact states, timers and triggers in batches; the model registry too."""

    def __init__(
        self, client: redis.Redis, layout: KeyLayout, state_ttl_s: int = DEFAULT_STATE_TTL_S
    ) -> None:
        super().__init__(client, layout)
        self.state_ttl_s = state_ttl_s
        self.writer = uuid.uuid4().hex
        """This store's commit sequence key: a retried commit is recognised by it."""
        self._seq = 0
        self.retried_commits = 0
        """Commits Redis had already applied when a retry sent them again."""
        self._commit_script = client.register_script(COMMIT)

    def mark_run(self) -> None:
        """Make sure the run marker exists (see `commit`) and finish the cluster commits a
        stopped process left half applied (`recover`): once, before the first batch."""
        call(lambda: self.client.set(self.layout.marker, "pulse", nx=True))
        self.recover()

    def load(
        self,
        keys: list[str],
        due_before: Mapping[str, int],
        skip: Collection[str] = (),
        streams: Collection[str] = (),
    ) -> tuple[dict[str, ContactState], dict[str, list[str]], dict[str, StreamPosition]]:
        """States of `keys`, per partition the contacts with timers due, and stream positions.

        One round trip for the batch (states, due timers, the committed positions of
        `streams`); contacts with due timers that were not among `keys` (nor in `skip`,
        the states the caller already holds) cost a second one.
        """
        states, due, positions, _ = self.load_batch(keys, due_before, skip, streams)
        return states, due, positions

    def load_batch(
        self,
        keys: list[str],
        due_before: Mapping[str, int],
        skip: Collection[str] = (),
        streams: Collection[str] = (),
        aliases: Collection[str] = (),
        cross: CrossReads | None = None,
    ) -> tuple[
        dict[str, ContactState], dict[str, list[str]], dict[str, StreamPosition], dict[str, Alias]
    ]:
        """`load`, plus the aliases of the anonymous keys `aliases` (those that have one),
        read in the same round trip; and, for worker processes, the `cross` reads
        (adoptions and hand-offs), filled in place."""
        aliases = list(aliases)
        layout = self.layout
        pipe = self.client.pipeline(transaction=False)
        if cross is not None:
            cross.queue(pipe, layout)
        alias_reads = queue_mget(pipe, layout, aliases, layout.alias)
        state_reads = queue_mget(pipe, layout, keys, layout.contact)
        timer_reads = [
            (partition, index)
            for partition, watermark_ms in due_before.items()
            for index in layout.timer_indexes(partition)
        ]
        for partition, index in timer_reads:
            pipe.zrangebyscore(index, "-inf", f"({due_before[partition]}")
        if streams:
            pipe.hmget(layout.positions, list(streams))
        replies = execute(pipe)
        raw_positions = replies.pop() if streams else []
        positions = {
            stream: _decode_position(raw)
            for stream, raw in zip(streams, raw_positions, strict=True)
            if raw is not None
        }
        if cross is not None:
            cross.take(replies)
        raw_aliases = alias_reads.take(replies)
        found = {
            k: decode_alias(raw)
            for k, raw in zip(aliases, raw_aliases, strict=True)
            if raw is not None
        }
        raw_states = state_reads.take(replies)
        states = {k: self._decode(k, raw) for k, raw in zip(keys, raw_states, strict=True)}
        due: dict[str, list[str]] = {partition: [] for partition in due_before}
        missing: list[str] = []
        for (partition, _), members in zip(timer_reads, replies, strict=True):
            contacts = [m.decode() for m in members]
            due[partition].extend(contacts)
            missing.extend(c for c in contacts if c not in states and c not in skip)
        if missing:
            missing = list(dict.fromkeys(missing))
            pipe = self.client.pipeline(transaction=False)
            reads = queue_mget(pipe, layout, missing, layout.contact)
            raw_states = reads.take(execute(pipe))
            states.update(
                {k: self._decode(k, raw) for k, raw in zip(missing, raw_states, strict=True)}
            )
        return states, due, positions, found

    def _decode(self, key: str, raw: bytes | None) -> ContactState:
        try:
            return decode_state(raw)
        except msgspec.DecodeError as exc:
            raise StateError(
                f"the state of contact `{key}` in Redis (`{self.layout.contact(key)}`) is "
                f"corrupt: {exc}"
            ) from exc

    def commit(
        self,
        states: Mapping[str, ContactState],
        partitions: Mapping[str, str],
        triggers: Iterable[Trigger],
        counters: Mapping[str, int],
        stage_moves: Mapping[str, int],
        model: LeadModel | None = None,
        shipping: ModelShipping | None = None,
        is_new_version: bool = True,
        positions: Mapping[str, tuple[StreamPosition | None, StreamPosition]] | None = None,
        next_due: Mapping[str, int] | None = None,
        merges: Iterable[Merge] = (),
        adoptions: Iterable[Adoption] = (),
    ) -> bool:
        """Write a batch atomically: states, timer index, triggers, counters, model, positions.

        `model` is published (the trainer's); `shipping` carries the trainer lease
        renewal or, from a loader, the labels it resolved for the trainer;
        `positions` moves each source stream from the position this process last
        saw (`None`: none yet) to the batch's; `next_due`, when given, holds every
        state's next timer (absent: none), saving the store from working it out;
        `merges` writes aliases (first link wins) and deletes merged anonymous states;
        `adoptions` take identity hand-offs between worker processes (`pulse.handoff`).
        Returns False when Redis had already applied this very commit (a retry after
        a lost reply): nothing is written twice.
        Raises `StateError` when Redis lost its data under the run, or another
        process moved a stream's position.
        """
        layout = self.layout
        self._seq += 1
        meta = CommitPart()
        meta.commit.update(
            marker=layout.marker,
            seq=[layout.commit_seq(self.writer), str(self._seq)],
            positions=[
                layout.positions,
                [
                    [stream, "" if old is None else _encode_position(old), _encode_position(new)]
                    for stream, (old, new) in (positions or {}).items()
                ],
            ],
            counters=[
                [layout.stats, [[k, n] for k, n in counters.items() if n]],
                [layout.stages, [[k, n] for k, n in stage_moves.items() if n]],
            ],
        )
        groups: dict[int, CommitPart] = {}

        def part(key: str) -> CommitPart:
            """The part of the commit that holds `key`'s writes (one server: all of it)."""
            if not layout.groups:
                return meta
            group = layout.group(key)
            found = groups.get(group)
            if found is None:
                found = groups[group] = CommitPart()
                found.commit["triggers"] = [layout.group_triggers(group), TRIGGER_STREAM_MAXLEN, []]
            return found

        if not layout.groups:
            meta.commit["triggers"] = [layout.triggers, TRIGGER_STREAM_MAXLEN, []]
        for key, state in states.items():
            into = part(key)
            into.commit.setdefault("states", []).append(
                [
                    layout.contact(key),
                    into.blob(encode_state(state)),
                    layout.timers(partitions[key], layout.group(key)),
                    key,
                    _due(key, state, next_due),
                ]
            )
        for trigger in triggers:
            into = part(trigger.contact_id)
            into.commit["triggers"][2].append(
                [trigger.trigger_id, into.blob(encode_trigger(trigger))]
            )
        for m in merges:
            group = layout.group(m.anonymous_key)
            part(m.anonymous_key).commit.setdefault("merges", []).append(
                [
                    layout.alias(m.anonymous_key),
                    encode_alias(Alias(m.contact, m.partition)),
                    layout.contact(m.anonymous_key) if m.home else "",
                    layout.timers(m.home, group) if m.home else "",
                    m.anonymous_key,
                ]
            )
        for taken in adoptions:
            into = part(taken.anonymous_key)
            into.commit.setdefault("deletes", []).append(
                layout.handoff(taken.anonymous_key, taken.token)
            )
            if taken.contact:
                into.commit.setdefault("expiring", []).append(
                    [layout.adopted(taken.anonymous_key), into.blob(taken.contact)]
                )
        for into in (meta, *groups.values()):
            into.commit["ttl"] = self.state_ttl_s
        self._add_model(meta, model, is_new_version, shipping)
        if not layout.groups:
            return self._run_commit(meta)
        return self._commit_groups(meta, groups)

    def _add_model(
        self,
        meta: CommitPart,
        model: LeadModel | None,
        is_new_version: bool,
        shipping: ModelShipping | None,
    ) -> None:
        layout, commit = self.layout, meta.commit
        if model is not None:
            commit["sets"] = [[layout.model, meta.blob(model.dumps())]]
            if is_new_version:
                commit["incrs"] = [layout.model_version]
            quality = [[k, str(v)] for k, v in model.quality().items()]
            commit["hashes"] = [[layout.model_quality, quality]]
        if shipping is not None:
            if shipping.lease_ms:
                commit["lease"] = [layout.model_trainer, shipping.owner, shipping.lease_ms]
            if shipping.labels:
                examples = [
                    [shipping.owner, meta.blob(_EXAMPLE_ENCODER.encode(e))] for e in shipping.labels
                ]
                commit["labels"] = [layout.labels, 1_000_000, examples]

    def _run_commit(self, meta: CommitPart) -> bool:
        """The meta part (one server: the whole batch) in one script; False if applied before."""
        layout = self.layout
        try:
            reply = self._commit_script(keys=[layout.marker], args=meta.args())
        except redis.ResponseError as exc:
            if "PULSE_LOST_DATA" in str(exc):
                raise StateError(
                    f"Redis lost pulse's data under the running flow (the run marker "
                    f"`{layout.marker}` is gone: restarted without persistence, or flushed); "
                    "stopping rather than carry on from empty state"
                ) from exc
            raise StateError(f"Redis refused the batch commit: {exc}") from exc
        except redis.RedisError as exc:
            raise StateError(f"Redis batch commit failed: {exc}") from exc
        if reply in (b"applied", "applied"):
            self.retried_commits += 1
            log.warning("a retried batch commit had already been applied: nothing written twice")
            return False
        return True

    def _commit_groups(self, meta: CommitPart, groups: dict[int, CommitPart]) -> bool:
        """Redis Cluster: prepare every key group's part, decide in the meta group, apply."""
        layout, seq = self.layout, str(self._seq)
        prepared = {g: layout.prepared(g, self.writer) for g in groups}
        if groups:
            pipe = self.client.pipeline(transaction=False)
            for group, into in groups.items():
                _queue_eval(pipe, PREPARE, prepared[group], seq, *into.args())
            execute(pipe, "preparing the batch commit failed")
        meta.commit["decided"] = [
            layout.decided,
            self.writer,
            f"{seq}:{','.join(map(str, sorted(groups)))}",
        ]
        is_new = self._run_commit(meta)
        self._apply_prepared([(key, seq) for key in prepared.values()])
        return is_new

    def _apply_prepared(self, parts: list[tuple[str, str]]) -> int:
        """Apply prepared parts `(key, seq)` that are still there; how many were."""
        if not parts:
            return 0
        pipe = self.client.pipeline(transaction=False)
        for key, seq in parts:
            _queue_eval(pipe, APPLY, key, seq)
        replies = execute(pipe, "applying the batch commit failed")
        return sum(1 for r in replies if r in (b"ok", "ok"))

    def recover(self) -> int:
        """Apply what writers decided but did not apply (they stopped between the phases
        of a cluster commit); returns the number of key group parts applied. Once, at start.

        A writer still running is harmless here: a part applies once, whoever applies it.
        """
        layout = self.layout
        if not layout.groups:
            return 0
        raw: dict[bytes, bytes] = call(lambda: self.client.hgetall(layout.decided))
        parts: list[tuple[str, str]] = []
        for writer, decision in raw.items():
            seq, _, groups = decision.decode().partition(":")
            parts.extend(
                (layout.prepared(int(g), writer.decode()), seq) for g in groups.split(",") if g
            )
        applied = self._apply_prepared(parts)
        if raw:
            call(lambda: self.client.hdel(layout.decided, *raw))
        if applied:
            log.warning(
                "applied %d key group parts of batch commits a stopped process had decided",
                applied,
            )
        return applied

    def read_contact(self, key: str) -> ContactState | None:
        """One contact's state, or `None` when Redis holds none."""
        raw = call(lambda: self.client.get(self.layout.contact(key)))
        return None if raw is None else self._decode(key, raw)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """The run counters and the number of contacts per stage."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.layout.stats)
        pipe.hgetall(self.layout.stages)
        stats, stages = execute(pipe)
        return _ints(stats), _ints(stages)


def _queue_eval(pipe: Any, script: str, key: str, *args: bytes | str) -> None:
    """Queue a script on one key's slot (a cluster pipeline has no `eval` method, but
    routes the command by its key)."""
    pipe.execute_command("EVAL", script, 1, key, *args)


def _due(key: str, state: ContactState, next_due: Mapping[str, int] | None) -> int:
    """The contact's next timer for the timer index (-1: none)."""
    if next_due is not None:
        return next_due.get(key, -1)
    due = state.next_due_ms()
    return -1 if due is None else due


def _encode_position(position: StreamPosition) -> str:
    """A stream position as Redis keeps it (text: the ends exceed Lua's exact integers).

    >>> _decode_position(_encode_position(StreamPosition(7, 2**62)).encode())
    StreamPosition(read_to=7, released_before_ms=4611686018427387904)
    """
    return f"{position.read_to}:{position.released_before_ms}"


def _decode_position(raw: bytes) -> StreamPosition:
    read_to, _, released = raw.decode().partition(":")
    return StreamPosition(int(read_to), int(released))


def _ints(raw: Mapping[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items()}
