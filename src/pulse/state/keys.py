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
`pulse:{c:anon:<id>}:handoff:<token>` (string)
    Worker processes: an anonymous id's state handed from its part to the part of
    the contact an identify links it to (msgpack `pulse.identity.Handoff`; `token`:
    `pulse.identity.handoff_token`); deleted when merged, TTL as states.
`pulse:{c:anon:<id>}:adopted` (string)
    Worker processes: the contact whose part took the anonymous id in (its later
    events resolve there); TTL as states.
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

**Redis Cluster** (`redis+cluster://` URLs, `layout_for`): a batch touches many
contacts, and one Lua call may only touch one slot, so the keys are grouped into
`CLUSTER_KEY_GROUPS` (16) key groups, a hash tag each, `<g>` = a hash of the
contact key modulo 16:

`pulse:{pulse:g<g>}:c:<contact>:s`, `pulse:{pulse:g<g>}:c:anon:<id>:alias`
    The contact's state and alias, as above (and `...:handoff:<token>`, `...:adopted`).
`pulse:{pulse:g<g>}:timers:<partition>`
    The group's timer index per source partition.
`pulse:{pulse:g<g>}:triggers`
    The group's trigger stream (16 streams: no one hot slot); the Kafka relay runs
    one partition per stream, its cursor `pulse:{pulse:g<g>}:relay:<topic>`.
`pulse:{pulse:g<g>}:prep:<writer>` (list)
    A writer's prepared part of its batch commit for the group (two-phase commit,
    `pulse.state.lua`); deleted when applied, TTL 1 day.
`pulse:{pulse:m}:<name>`
    The meta group: `stats`, `stages`, `positions`, `run`, `commit:<writer>`, the
    `model` keys, `labels`, and `decided` (hash: writer -> its last decided batch
    sequence and the groups it touches; `ContactStore.recover` reads it at start).

`pulse:tombstones` and `pulse:suppression` keep their names (read one key each).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import redis

from pulse.config import DEFAULT_STATE_TTL_S

__all__ = [
    "CLUSTER_KEY_GROUPS",
    "DEFAULT_STATE_TTL_S",
    "TRIGGER_STREAM_MAXLEN",
    "KeyLayout",
    "is_cluster",
    "layout_for",
    "layout_for_url",
]

TRIGGER_STREAM_MAXLEN = 1_000_000
"""The trigger stream keeps about this many newest entries (`MAXLEN ~`)."""


CLUSTER_KEY_GROUPS = 16
"""Key groups of the Redis Cluster layout: fixed, so every process and tool agrees."""


class KeyLayout:
    """Names every Redis key pulse uses; the one place the layout lives.

    `groups=0` is the layout for one Redis server (the keys listed above). With
    `groups=N` (Redis Cluster, `layout_for`), a contact's keys, its timer index
    entries and its triggers live in one of N key groups, each a hash tag of its
    own, and the keys the run shares (counters, positions, model) in a meta group:
    every Lua call of a batch commit touches one slot (see `pulse.state.store`).
    """

    def __init__(self, prefix: str = "pulse", groups: int = 0) -> None:
        self.prefix = prefix
        self.groups = groups
        shared = f"{prefix}:{{{prefix}:m}}" if groups else prefix
        self.triggers = f"{shared}:triggers"
        self.stages = f"{shared}:stages"
        self.stats = f"{shared}:stats"
        self.model = f"{shared}:model"
        self.model_quality = f"{shared}:model:quality"
        self.model_version = f"{shared}:model:version"
        self.model_trainer = f"{shared}:model:trainer"
        self.labels = f"{shared}:labels"
        self.positions = f"{shared}:positions"
        self.marker = f"{shared}:run"
        self.decided = f"{shared}:decided"
        """Cluster layout: per writer, its last batch decided and the groups it touches."""
        self._shared = shared
        self.trigger_streams: tuple[str, ...] = (
            tuple(f"{self._group_prefix(g)}:triggers" for g in range(groups))
            if groups
            else (self.triggers,)
        )
        """Every trigger stream: one per key group in the cluster layout, else one."""

    def _group_prefix(self, group: int) -> str:
        return f"{self.prefix}:{{{self.prefix}:g{group:02d}}}"

    def group(self, key: str) -> int:
        """The key group of a contact key (0 in the one-server layout).

        >>> KeyLayout(groups=16).group("c42") == KeyLayout(groups=16).group("c42")
        True
        """
        if not self.groups:
            return 0
        digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") % self.groups

    def group_triggers(self, group: int) -> str:
        """The trigger stream of a key group (the one stream in the one-server layout)."""
        return self.trigger_streams[group] if self.groups else self.triggers

    def prepared(self, group: int, writer: str) -> str:
        """Cluster layout: a writer's prepared commit for one key group (`pulse.state.store`)."""
        return f"{self._group_prefix(group)}:prep:{writer}"

    def contact(self, key: str) -> str:
        """The state key of a contact.

        >>> KeyLayout().contact("c42")
        'pulse:{c:c42}:s'
        """
        name = key
        if "{" in key or "}" in key or len(key) > 128:
            name = "h" + hashlib.blake2b(key.encode(), digest_size=10).hexdigest()
        if self.groups:
            return f"{self._group_prefix(self.group(key))}:c:{name}:s"
        return f"{self.prefix}:{{c:{name}}}:s"

    def alias(self, anonymous_key: str) -> str:
        """Where an anonymous contact (`anon:<id>`) resolves after its merge; its state's slot.

        >>> KeyLayout().alias("anon:a1")
        'pulse:{c:anon:a1}:alias'
        """
        return self.contact(anonymous_key)[:-1] + "alias"

    def handoff(self, anonymous_key: str, token: str) -> str:
        """An identify's hand-off of an anonymous state between worker processes.

        >>> KeyLayout().handoff("anon:a1", "7f")
        'pulse:{c:anon:a1}:handoff:7f'
        """
        return self.contact(anonymous_key)[:-1] + "handoff:" + token

    def handoff_glob(self, anonymous_key: str) -> str:
        """A `SCAN MATCH` pattern for every hand-off of one anonymous key (offline readers).

        >>> KeyLayout().handoff_glob("anon:a1")
        'pulse:{c:anon:a1}:handoff:*'
        """
        return re.sub(r"([*?\[\]\\])", r"\\\1", self.contact(anonymous_key)[:-1]) + "handoff:*"

    def adopted(self, anonymous_key: str) -> str:
        """The contact whose worker process took an anonymous id in.

        >>> KeyLayout().adopted("anon:a1")
        'pulse:{c:anon:a1}:adopted'
        """
        return self.contact(anonymous_key)[:-1] + "adopted"

    def contact_glob(self, suffix: str = "s") -> str:
        """A `SCAN MATCH` pattern for every contact key ending `:<suffix>` (offline readers).

        >>> KeyLayout().contact_glob("alias"), KeyLayout(groups=2).contact_glob()
        ('pulse:{c:*}:alias', 'pulse:{pulse:g*}:c:*:s')
        """
        head = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix)
        if self.groups:
            return f"{head}:{{{head}:g*}}:c:*:{suffix}"
        return f"{head}:{{c:*}}:{suffix}"

    def contact_of(self, name: str, suffix: str = "s") -> str:
        """The contact key (as stored: hashed when long) a key name from `contact_glob` holds.

        >>> layout = KeyLayout(groups=16)
        >>> layout.contact_of(layout.alias("anon:a1"), "alias")
        'anon:a1'
        >>> KeyLayout().contact_of("pulse:{c:c42}:s")
        'c42'
        """
        body = name[: -len(suffix) - 1]
        if self.groups:
            return body.partition("}:c:")[2]
        return body[len(self.prefix) + 4 : -1]

    def timers(self, partition: str, group: int = 0) -> str:
        """The timer index of a source partition (in the cluster layout: of one key group).

        >>> KeyLayout().timers("events.jsonl")
        'pulse:timers:{p:events.jsonl}'
        >>> KeyLayout(groups=16).timers("events.jsonl", 3)
        'pulse:{pulse:g03}:timers:events.jsonl'
        """
        if self.groups:
            return f"{self._group_prefix(group)}:timers:{partition}"
        return f"{self.prefix}:timers:{{p:{partition}}}"

    def timer_indexes(self, partition: str) -> list[str]:
        """Every timer index of a partition: one, or one per key group."""
        if self.groups:
            return [self.timers(partition, g) for g in range(self.groups)]
        return [self.timers(partition)]

    def timer_pattern(self) -> str:
        """A `SCAN MATCH` pattern for every timer index (offline readers only)."""
        return f"{self.prefix}:*timers:*"

    def commit_seq(self, writer: str) -> str:
        """The last commit sequence of one writer (a retried commit is recognised by it)."""
        return f"{self._shared}:commit:{writer}"

    def relay(self, topic: str, group: int = 0) -> str:
        """The Kafka relay's cursor for a topic: the last trigger stream entry delivered
        (in the cluster layout, of one key group's stream).

        >>> KeyLayout().relay("triggers")
        'pulse:relay:triggers'
        >>> KeyLayout(groups=16).relay("triggers", 5)
        'pulse:{pulse:g05}:relay:triggers'
        """
        if self.groups:
            return f"{self._group_prefix(group)}:relay:{topic}"
        return f"{self.prefix}:relay:{topic}"


def is_cluster(client: Any) -> bool:
    """Whether `client` talks to a Redis Cluster (`pulse.redis_client.connect`)."""
    return isinstance(client, redis.RedisCluster)


def layout_for_url(url: str, prefix: str = "pulse") -> KeyLayout:
    """The key layout for the Redis a URL names (`redis+cluster://`: the cluster one)."""
    return KeyLayout(prefix, groups=CLUSTER_KEY_GROUPS if "+cluster://" in url else 0)


def layout_for(client: Any, prefix: str = "pulse") -> KeyLayout:
    """The key layout for the Redis behind `client`: grouped on a Redis Cluster."""
    return KeyLayout(prefix, groups=CLUSTER_KEY_GROUPS if is_cluster(client) else 0)
