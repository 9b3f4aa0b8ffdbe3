"""The contact store: one read round trip and one atomic write per batch.

Every batch costs one read round trip (contact states not cached, due timers, the
positions of streams not seen yet) and one atomic write: a single Lua call
(`_COMMIT`) writes states, timer index, triggers, counters, the model and the
source positions together or not at all, refuses a commit it already applied
(idempotent under client retries), and stops a flow whose Redis lost its data.
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
from pulse.state.keys import DEFAULT_STATE_TTL_S, TRIGGER_STREAM_MAXLEN, KeyLayout
from pulse.state.models import ModelRegistry
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

# The whole batch commit is this one script: Redis runs a script atomically, so the
# batch's states, timer index, triggers, counters, model and source positions land
# together or not at all. It refuses, without writing anything, a commit it has
# already applied (a retry after a lost reply), recognised by the writer's commit
# sequence and by the source positions; and a Redis that lost its data under a
# running flow (the run marker is gone). ARGV[1] is the commit, msgpack (Redis's
# cmsgpack reads no binary type, so every blob travels as its own ARGV, named by index):
#   {marker, seq = {key, value}, positions = {key, {{stream, expected, new}, ...}},
#    states = {{key, blob, timers key, member, due or -1}, ...}, ttl,
#    triggers = {key, maxlen, {{id, json}, ...}}, counters = {{key, {{field, n}, ...}}, ...},
#    sets = {{key, value}, ...}, incrs = {key, ...}, hashes = {{key, {{f, v}, ...}}, ...},
#    lease = {key, owner, ms} or {}, labels = {key, maxlen, {{writer, example}, ...}} or {},
#    merges = {{alias key, alias value, state key or '', timers key or '', member}, ...}}
# where blob, json, value and example are ARGV indexes.
_COMMIT = """
local c = cmsgpack.unpack(ARGV[1])
if redis.call('EXISTS', c.marker) == 0 then
  return redis.error_reply('PULSE_LOST_DATA run marker ' .. c.marker .. ' is gone')
end
if redis.call('GET', c.seq[1]) == c.seq[2] then return 'applied' end
local pos_key = c.positions[1]
for _, p in ipairs(c.positions[2]) do
  local now = redis.call('HGET', pos_key, p[1])
  if now ~= p[2] and not (now == false and p[2] == '') then
    if now == p[3] then return 'applied' end
    return redis.error_reply('PULSE_POSITION_MOVED stream ' .. p[1] .. ' is at ' ..
      tostring(now) .. ', this commit expected ' .. p[2] .. ': another process writes it')
  end
end
for _, p in ipairs(c.positions[2]) do redis.call('HSET', pos_key, p[1], p[3]) end
redis.call('SET', c.seq[1], c.seq[2], 'EX', 86400)
for _, st in ipairs(c.states) do
  redis.call('SET', st[1], ARGV[st[2]], 'EX', c.ttl)
  if st[5] < 0 then redis.call('ZREM', st[3], st[4])
  else redis.call('ZADD', st[3], st[5], st[4]) end
end
local t = c.triggers
for _, tr in ipairs(t[3]) do
  redis.call('XADD', t[1], 'MAXLEN', '~', t[2], '*', 'id', tr[1], 'json', ARGV[tr[2]])
end
for _, h in ipairs(c.counters) do
  for _, fv in ipairs(h[2]) do redis.call('HINCRBY', h[1], fv[1], fv[2]) end
end
for _, kv in ipairs(c.sets) do redis.call('SET', kv[1], ARGV[kv[2]]) end
for _, k in ipairs(c.incrs) do redis.call('INCR', k) end
for _, h in ipairs(c.hashes) do
  for _, fv in ipairs(h[2]) do redis.call('HSET', h[1], fv[1], fv[2]) end
end
if c.lease[1] then redis.call('SET', c.lease[1], c.lease[2], 'PX', c.lease[3]) end
if c.labels[1] then
  for _, l in ipairs(c.labels[3]) do
    local lk = c.labels[1]
    redis.call('XADD', lk, 'MAXLEN', '~', c.labels[2], '*', 'writer', l[1], 'example', ARGV[l[2]])
  end
end
for _, m in ipairs(c.merges) do
  redis.call('SET', m[1], m[2], 'NX', 'EX', c.ttl)
  if m[3] ~= '' then redis.call('DEL', m[3]) end
  if m[4] ~= '' then redis.call('ZREM', m[4], m[5]) end
end
return 'ok'
"""

_COMMIT_ENCODER = msgspec.msgpack.Encoder()


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
        self._commit_script = client.register_script(_COMMIT)

    def mark_run(self) -> None:
        """Make sure the run marker exists (see `commit`): once, before the first batch."""
        call(lambda: self.client.set(self.layout.marker, "pulse", nx=True))

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
    ) -> tuple[
        dict[str, ContactState], dict[str, list[str]], dict[str, StreamPosition], dict[str, Alias]
    ]:
        """`load`, plus the aliases of the anonymous keys `aliases` (those that have one),
        read in the same round trip."""
        aliases = list(aliases)
        pipe = self.client.pipeline(transaction=False)
        if aliases:
            pipe.mget([self.layout.alias(k) for k in aliases])
        if keys:
            pipe.mget([self.layout.contact(k) for k in keys])
        for partition, watermark_ms in due_before.items():
            pipe.zrangebyscore(self.layout.timers(partition), "-inf", f"({watermark_ms}")
        if streams:
            pipe.hmget(self.layout.positions, list(streams))
        replies = execute(pipe)
        raw_aliases = replies.pop(0) if aliases else []
        found = {
            k: decode_alias(raw)
            for k, raw in zip(aliases, raw_aliases, strict=True)
            if raw is not None
        }
        raw_positions = replies.pop() if streams else []
        positions = {
            stream: _decode_position(raw)
            for stream, raw in zip(streams, raw_positions, strict=True)
            if raw is not None
        }
        raw_states = replies.pop(0) if keys else []
        states = {k: self._decode(k, raw) for k, raw in zip(keys, raw_states, strict=True)}
        due: dict[str, list[str]] = {}
        missing: list[str] = []
        for partition, members in zip(due_before, replies, strict=True):
            due[partition] = [m.decode() for m in members]
            missing.extend(c for c in due[partition] if c not in states and c not in skip)
        if missing:
            missing = list(dict.fromkeys(missing))
            raw_states = call(lambda: self.client.mget([self.layout.contact(k) for k in missing]))
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
    ) -> bool:
        """Write a batch atomically: states, timer index, triggers, counters, model, positions.

        `model` is published (the trainer's); `shipping` carries the trainer lease
        renewal or, from a loader, the labels it resolved for the trainer;
        `positions` moves each source stream from the position this process last
        saw (`None`: none yet) to the batch's; `next_due`, when given, holds every
        state's next timer (absent: none), saving the store from working it out;
        `merges` writes aliases (first link wins) and deletes merged anonymous states.
        Returns False when Redis had already applied this very commit (a retry after
        a lost reply): nothing is written twice.
        Raises `StateError` when Redis lost its data under the run, or another
        process moved a stream's position.
        """
        layout = self.layout
        self._seq += 1
        args: list[bytes | str] = [b""]

        def blob(value: bytes | str) -> int:
            args.append(value)
            return len(args)  # its ARGV index (Lua counts from 1)

        commit: dict[str, Any] = {
            "marker": layout.marker,
            "seq": [layout.commit_seq(self.writer), str(self._seq)],
            "ttl": self.state_ttl_s,
            "positions": [
                layout.positions,
                [
                    [stream, "" if old is None else _encode_position(old), _encode_position(new)]
                    for stream, (old, new) in (positions or {}).items()
                ],
            ],
            "states": [
                [
                    layout.contact(key),
                    blob(encode_state(state)),
                    layout.timers(partitions[key]),
                    key,
                    _due(key, state, next_due),
                ]
                for key, state in states.items()
            ],
            "triggers": [
                layout.triggers,
                TRIGGER_STREAM_MAXLEN,
                [[t.trigger_id, blob(encode_trigger(t))] for t in triggers],
            ],
            "counters": [
                [layout.stats, [[k, n] for k, n in counters.items() if n]],
                [layout.stages, [[k, n] for k, n in stage_moves.items() if n]],
            ],
            "sets": [],
            "incrs": [],
            "hashes": [],
            "lease": [],
            "labels": [],
            "merges": [
                [
                    layout.alias(m.anonymous_key),
                    encode_alias(Alias(m.contact, m.partition)),
                    layout.contact(m.anonymous_key) if m.home else "",
                    layout.timers(m.home) if m.home else "",
                    m.anonymous_key,
                ]
                for m in merges
            ],
        }
        if model is not None:
            commit["sets"].append([layout.model, blob(model.dumps())])
            if is_new_version:
                commit["incrs"].append(layout.model_version)
            quality = [[k, str(v)] for k, v in model.quality().items()]
            commit["hashes"].append([layout.model_quality, quality])
        if shipping is not None:
            if shipping.lease_ms:
                commit["lease"] = [layout.model_trainer, shipping.owner, shipping.lease_ms]
            if shipping.labels:
                examples = [
                    [shipping.owner, blob(_EXAMPLE_ENCODER.encode(e))] for e in shipping.labels
                ]
                commit["labels"] = [layout.labels, 1_000_000, examples]
        args[0] = _COMMIT_ENCODER.encode(commit)
        try:
            reply = self._commit_script(keys=[layout.marker], args=args)
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
