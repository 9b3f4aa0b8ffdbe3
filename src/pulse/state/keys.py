"""Every Redis key pulse uses, named in one place.

Key layout (prefix `pulse` by default; `{...}` is the Redis Cluster hash tag,
so all keys of one contact share a slot and can be exported or deleted together):

| key                              | type   | holds                                            |
|----------------------------------|--------|--------------------------------------------------|
| `pulse:{c:<contact>}:s`          | string | the contact's `ContactState` (msgpack), with TTL |
| `pulse:{c:anon:<id>}:alias`      | string | `contact\x1fpartition` an anonymous id links to |
| `pulse:timers:{p:<partition>}`   | zset   | contact -> its next timer due time (epoch ms)    |
| `pulse:triggers`                 | stream | every trigger, written with the state, once      |
| `pulse:stages`                   | hash   | number of contacts per lifecycle stage           |
| `pulse:stats`                    | hash   | counters: events, duplicates, replayed, late, ... |
| `pulse:positions`                | hash   | source stream -> `read_to:released_before_ms`    |
| `pulse:run`                      | string | run marker: its loss means Redis lost the data   |
| `pulse:commit:<writer>`          | string | a writer's last commit sequence (TTL 1 day)      |
| `pulse:model`                    | string | the online model as data (msgpack, never pickle) |
| `pulse:model:quality`            | hash   | prequential ROC AUC, log loss, labels, drifts    |
| `pulse:model:version`            | string | incremented at each publish; loaders reload on it |
| `pulse:model:trainer`            | string | the trainer's lease (owner id, expires)          |
| `pulse:labels`                   | stream | labels resolved by loaders, for the trainer      |
| `pulse:relay:<topic>`            | string | last `pulse:triggers` entry relayed to the topic |

Keys are built by `KeyLayout` only; nothing else spells a key.
"""

from __future__ import annotations

import hashlib

from pulse.config import DEFAULT_STATE_TTL_S

__all__ = ["DEFAULT_STATE_TTL_S", "TRIGGER_STREAM_MAXLEN", "KeyLayout"]

TRIGGER_STREAM_MAXLEN = 1_000_000
"""The trigger stream keeps about this many newest entries (`MAXLEN ~`)."""


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
        self.positions = f"{prefix}:positions"
        self.marker = f"{prefix}:run"

    def contact(self, key: str) -> str:
        """The state key of a contact.

        >>> KeyLayout().contact("c42")
        'pulse:{c:c42}:s'
        """
        if "{" in key or "}" in key or len(key) > 128:
            key = "h" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
        return f"{self.prefix}:{{c:{key}}}:s"

    def alias(self, anonymous_key: str) -> str:
        """Where an anonymous contact (`anon:<id>`) resolves after its merge; its state's slot.

        >>> KeyLayout().alias("anon:a1")
        'pulse:{c:anon:a1}:alias'
        """
        return self.contact(anonymous_key)[:-1] + "alias"

    def timers(self, partition: str) -> str:
        """The timer index of a source partition.

        >>> KeyLayout().timers("events.jsonl")
        'pulse:timers:{p:events.jsonl}'
        """
        return f"{self.prefix}:timers:{{p:{partition}}}"

    def commit_seq(self, writer: str) -> str:
        """The last commit sequence of one writer (a retried commit is recognised by it)."""
        return f"{self.prefix}:commit:{writer}"

    def relay(self, topic: str) -> str:
        """The Kafka relay's cursor for a topic: the last trigger stream entry delivered.

        >>> KeyLayout().relay("triggers")
        'pulse:relay:triggers'
        """
        return f"{self.prefix}:relay:{topic}"
