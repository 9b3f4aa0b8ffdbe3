r"""Every Redis key pulse uses: the key layout, documented here and nowhere else.

All keys start with the prefix (`--prefix`, default `pulse`). `{...}` is a Redis
Cluster hash tag: every key of one contact lands in one slot, so a contact's keys can
be found, exported and deleted together. Keys are built by `KeyLayout` only.

`pulse:{c:<contact>}:s` (string)
    The contact's state, msgpack (`pulse.contact.ContactState`): windowed counts per
    event type, recency, session, cart, purchases and revenue, per-rule decayed
    points, stage and history, flags, pending timers, recent event ids. TTL 400
    days (`DEFAULT_STATE_TTL_S`: idle contacts expire).
`pulse:{c:anon:<id>}:alias` (string)
    The contact an anonymous id merged into (`contact`, a `\x1f`, the partition that
    linked them); written once, TTL as states.
`pulse:timers:{p:<partition>}` (sorted set)
    Per source partition: contact -> its next timer's due time (epoch ms).
`pulse:triggers` (stream)
    Every trigger, written with the state, once; capped near
    `TRIGGER_STREAM_MAXLEN` entries. The outbox the Kafka relay reads.
`pulse:stages` (hash)
    Number of contacts per lifecycle stage.
`pulse:stats` (hash)
    Counters: `events`, `duplicates`, `replayed`, `late`, `rejected`, `triggers`,
    `trigger:<name>`, `decision:<decision>`, `decision:suppressed:<reason>`,
    `identity:merged` (and `identity:merge_elsewhere`, `identity:alias_elsewhere`,
    `identity:alias_conflict`), and what a cap or condition turned away
    (`cart_lines_merged`, `rescue_not_engaged`, ...).
`pulse:positions` (hash)
    Per source stream: how far it was read and released
    (`read_to:released_before_ms`), committed with each batch.
`pulse:run` (string)
    The run marker: if it disappears, Redis lost pulse's data and the flow stops.
`pulse:commit:<writer>` (string)
    A writer's last commit sequence (a retried commit applies once); TTL 1 day.
`pulse:model` (string)
    The online model as data (msgpack `SavedModel`, never pickle).
`pulse:model:quality` (hash)
    Prequential ROC AUC, log loss, labels, drifts of the saved model.
`pulse:model:version` (string)
    Incremented at each publish; loaders reload the model when it moves.
`pulse:model:trainer` (string)
    The trainer's lease (owner id, expires).
`pulse:labels` (stream)
    Labels resolved by loaders, for the trainer.
`pulse:tombstones` (set)
    Keyed hashes of the ids `pulse privacy delete` removed (`pulse.state.privacy`);
    the engine skips their events (`tombstoned`).
`pulse:suppression` (hash)
    Contact -> channels it must not be messaged on (`pulse suppress`;
    `pulse.state.suppression`).
`pulse:relay:<topic>` (string)
    Kafka trigger relay: the last `pulse:triggers` entry delivered to `<topic>`.

Nothing on the hot path uses `KEYS` or `SCAN` (the offline readers of
`pulse.state.outbox` do).
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
