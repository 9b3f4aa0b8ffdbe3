"""Redis, the state of record: the key layout and the contact store.

Key layout (prefix `pulse` by default; `{...}` is the Redis Cluster hash tag,
so all keys of one contact share a slot and can be exported or deleted together):

| key                              | type   | holds                                            |
|----------------------------------|--------|--------------------------------------------------|
| `pulse:{c:<contact>}:s`          | string | the contact's `ContactState` (msgpack), with TTL |
| `pulse:timers:{p:<partition>}`   | zset   | contact -> its next timer due time (epoch ms)    |
| `pulse:triggers`                 | stream | every trigger, written with the state, once      |
| `pulse:stages`                   | hash   | number of contacts per lifecycle stage           |
| `pulse:stats`                    | hash   | counters: events, duplicates, stale, late, ...   |
| `pulse:model`                    | string | the online model (pickle), written by the trainer |
| `pulse:model:quality`            | hash   | prequential ROC AUC, log loss, labels, drifts    |
| `pulse:model:version`            | string | incremented at each publish; loaders reload on it |
| `pulse:model:trainer`            | string | the trainer's lease (owner id, expires)          |
| `pulse:labels`                   | stream | labels resolved by loaders, for the trainer      |
| `pulse:relay:<topic>`            | string | last `pulse:triggers` entry relayed to the topic |

Every batch costs one read round trip (contact states plus the partition's due
timers) and one atomic write (`MULTI`/`EXEC`): states, timer index, triggers and
counters land together or not at all, which is what makes replays idempotent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from functools import partial
from typing import Any

import msgspec
import redis

from pulse.contact import ContactState, decode_state, encode_state
from pulse.errors import StateError
from pulse.model import LeadModel
from pulse.redis_client import connect  # re-exported: the one way to build a client
from pulse.rules import ModelSpec
from pulse.triggers import Trigger, encode_trigger

__all__ = ["DEFAULT_STATE_TTL_S", "ContactStore", "KeyLayout", "ModelShipping", "connect"]


class ModelShipping(msgspec.Struct):
    """What a batch writes for model sharing between processes (see `pulse.training`)."""

    owner: str
    lease_ms: int = 0
    """Renew the trainer lease for this long (trainer only)."""
    labels: list[Any] = []
    """Resolved labels for the trainer (loaders only)."""


# Delete a lease only if its holder is the caller (compare-and-delete).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_EXAMPLE_ENCODER = msgspec.msgpack.Encoder()
_EXAMPLE_DECODER = msgspec.msgpack.Decoder()

# One call writes a whole batch of states and their timer index entries: a
# thousand SET+ZADD pairs as separate commands cost more in client-side packing
# than everything else the batch does. KEYS: state, timers, per contact;
# ARGV: ttl, then state blob, member, next due (-1: none), per contact.
_WRITE_STATES = """
local ttl = ARGV[1]
for i = 1, #KEYS, 2 do
  local a = (i - 1) / 2 * 3 + 2
  redis.call('SET', KEYS[i], ARGV[a], 'EX', ttl)
  local due = tonumber(ARGV[a + 2])
  if due < 0 then
    redis.call('ZREM', KEYS[i + 1], ARGV[a + 1])
  else
    redis.call('ZADD', KEYS[i + 1], due, ARGV[a + 1])
  end
end
return #KEYS / 2
"""

DEFAULT_STATE_TTL_S = 400 * 86_400
"""Idle contacts expire after this long (wall time): longer than `lost_customer` + a return."""


class KeyLayout:
    """Names every Redis key pulse uses; the one place the layout lives."""

    def __init__(self, prefix: str = "pulse") -> None:
        self.prefix = prefix
        self.triggers = f"{prefix}:triggers"
        self.stages = f"{prefix}:stages"
        self.stats = f"{prefix}:stats"
        self.model = f"{prefix}:model"
        self.model_quality = f"{prefix}:model:quality"
        self.model_version = f"{prefix}:model:version"
        self.model_trainer = f"{prefix}:model:trainer"
        self.labels = f"{prefix}:labels"

    def contact(self, key: str) -> str:
        """The state key of a contact.

        >>> KeyLayout().contact("c42")
        'pulse:{c:c42}:s'
        """
        if "{" in key or "}" in key or len(key) > 128:
            key = "h" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
        return f"{self.prefix}:{{c:{key}}}:s"

    def timers(self, partition: str) -> str:
        """The timer index of a source partition.

        >>> KeyLayout().timers("events.jsonl")
        'pulse:timers:{p:events.jsonl}'
        """
        return f"{self.prefix}:timers:{{p:{partition}}}"

    def relay(self, topic: str) -> str:
        """The Kafka relay's cursor for a topic: the last trigger stream entry delivered.

        >>> KeyLayout().relay("triggers")
        'pulse:relay:triggers'
        """
        return f"{self.prefix}:relay:{topic}"


class ContactStore:
    """Loads and commits contact states, timers and triggers in batches."""

    def __init__(
        self, client: redis.Redis, layout: KeyLayout, state_ttl_s: int = DEFAULT_STATE_TTL_S
    ) -> None:
        self.client = client
        self.layout = layout
        self.state_ttl_s = state_ttl_s
        self._write_states_script = client.register_script(_WRITE_STATES)
        self._release_script = client.register_script(_RELEASE)

    def load(
        self,
        keys: list[str],
        due_before: Mapping[str, int],
        skip: Collection[str] = (),
    ) -> tuple[dict[str, ContactState], dict[str, list[str]]]:
        """States of `keys`, and per partition the contacts with timers due before its watermark.

        One round trip for the batch; contacts with due timers that were not
        among `keys` (nor in `skip`, the states the caller already holds) cost a second one.
        """
        pipe = self.client.pipeline(transaction=False)
        if keys:
            pipe.mget([self.layout.contact(k) for k in keys])
        for partition, watermark_ms in due_before.items():
            pipe.zrangebyscore(self.layout.timers(partition), "-inf", f"({watermark_ms}")
        replies = self._execute(pipe)
        raw_states = replies.pop(0) if keys else []
        states = {k: decode_state(raw) for k, raw in zip(keys, raw_states, strict=True)}
        due: dict[str, list[str]] = {}
        missing: list[str] = []
        for partition, members in zip(due_before, replies, strict=True):
            due[partition] = [m.decode() for m in members]
            missing.extend(c for c in due[partition] if c not in states and c not in skip)
        if missing:
            missing = list(dict.fromkeys(missing))
            raw_states = self._execute_one(
                lambda: self.client.mget([self.layout.contact(k) for k in missing])
            )
            states.update(
                {k: decode_state(raw) for k, raw in zip(missing, raw_states, strict=True)}
            )
        return states, due

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
    ) -> None:
        """Write a batch atomically: states, timer index, triggers, counters and the model.

        `model` is published (the trainer's); `shipping` carries the trainer lease
        renewal or, from a loader, the labels it resolved for the trainer.
        """
        pipe = self.client.pipeline(transaction=True)
        if model is not None:
            pipe.set(self.layout.model, model.dumps())
            if is_new_version:
                pipe.incr(self.layout.model_version)
            quality: dict[Any, Any] = dict(model.quality())
            pipe.hset(self.layout.model_quality, mapping=quality)
        if shipping is not None:
            if shipping.lease_ms:
                pipe.set(self.layout.model_trainer, shipping.owner, px=shipping.lease_ms)
            for example in shipping.labels:
                fields: dict[Any, Any] = {
                    "writer": shipping.owner,
                    "example": _EXAMPLE_ENCODER.encode(example),
                }
                pipe.xadd(self.layout.labels, fields, maxlen=1_000_000, approximate=True)
        keys: list[str] = []
        args: list[bytes | str | int] = [self.state_ttl_s]
        for key, state in states.items():
            due = state.next_due_ms()
            keys += (self.layout.contact(key), self.layout.timers(partitions[key]))
            args += (encode_state(state), key, -1 if due is None else due)
        if keys:
            self._write_states(keys=keys, args=args, client=pipe)
        for trigger in triggers:
            pipe.xadd(
                self.layout.triggers,
                {"id": trigger.trigger_id, "json": encode_trigger(trigger)},
                maxlen=1_000_000,
                approximate=True,
            )
        for name, amount in counters.items():
            if amount:
                pipe.hincrby(self.layout.stats, name, amount)
        for stage, amount in stage_moves.items():
            if amount:
                pipe.hincrby(self.layout.stages, stage, amount)
        self._execute(pipe)

    def _write_states(self, **kwargs: Any) -> None:
        self._write_states_script(**kwargs)

    def load_model(self, spec: ModelSpec) -> LeadModel:
        """The saved model, or a new one when none is saved or its settings changed."""
        raw = self._execute_one(lambda: self.client.get(self.layout.model))
        return LeadModel(spec) if raw is None else LeadModel.loads(raw, spec)

    def claim_trainer(self, owner: str, lease_ms: int) -> bool:
        """Take (or keep) the trainer lease; only its holder learns and publishes the model."""

        def claim() -> bool:
            if self.client.set(self.layout.model_trainer, owner, nx=True, px=lease_ms):
                return True
            holder = self.client.get(self.layout.model_trainer)
            return holder in (owner, owner.encode())

        return bool(self._execute_one(claim))

    def release_trainer(self, owner: str) -> None:
        """Drop the trainer lease if `owner` still holds it."""
        self._execute_one(
            lambda: self._release_script(keys=[self.layout.model_trainer], args=[owner])
        )

    def model_version(self) -> int:
        """How many times a trainer has published the model."""
        raw = self._execute_one(lambda: self.client.get(self.layout.model_version))
        return int(raw or 0)

    def read_labels(self, after: str, exclude: str, count: int = 10_000) -> tuple[list[Any], str]:
        """Labels other processes shipped after stream id `after`; returns them and the last id."""
        examples: list[Any] = []
        while True:
            entries = self._execute_one(
                partial(self.client.xrange, self.layout.labels, min=f"({after}", count=count)
            )
            for entry_id, fields in entries:
                after = entry_id.decode()
                if fields[b"writer"].decode() != exclude:
                    examples.append(tuple(_EXAMPLE_DECODER.decode(fields[b"example"])))
            if len(entries) < count:
                return examples, after

    def model_quality(self) -> dict[str, float]:
        """The saved model's prequential quality metrics."""
        raw = self._execute_one(lambda: self.client.hgetall(self.layout.model_quality))
        return {k.decode(): float(v) for k, v in raw.items()}

    def read_contact(self, key: str) -> ContactState | None:
        """One contact's state, or `None` when Redis holds none."""
        raw = self._execute_one(lambda: self.client.get(self.layout.contact(key)))
        return None if raw is None else decode_state(raw)

    def counts(self) -> tuple[dict[str, int], dict[str, int]]:
        """The run counters and the number of contacts per stage."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.layout.stats)
        pipe.hgetall(self.layout.stages)
        stats, stages = self._execute(pipe)
        return _ints(stats), _ints(stages)

    @staticmethod
    def _execute(pipe: Any) -> list[Any]:
        try:
            return list(pipe.execute())
        except redis.RedisError as exc:
            raise StateError(f"Redis batch failed: {exc}") from exc

    @staticmethod
    def _execute_one(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except redis.RedisError as exc:
            raise StateError(f"Redis call failed: {exc}") from exc


def _ints(raw: Mapping[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items()}
