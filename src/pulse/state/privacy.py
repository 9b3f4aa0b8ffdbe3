"""A person's data on request: export everything pulse holds, delete it, keep it deleted.

`export` gathers, for one contact (a contact id or `anon:<id>`): its state (decoded),
the anonymous ids linked to it (both directions of the alias map), its traits, its
pending timers (in the state and in the timer indexes), and the triggers about it on
the trigger stream(s). `delete` removes all of that: the state, the alias keys, the
timer index entries, the trigger stream entries (`XDEL`), and records a tombstone
for every id it removed.

Tombstones (`<prefix>:tombstones`, a set) hold `tombstone_id(prefix, id)`, a keyed
BLAKE2b hash, never the raw id: the set can confirm that a given id was deleted, not
list who was. A hash of a guessable id (an email) can be confirmed by guessing: the
tombstone is pseudonymous, not anonymous, and is kept only to stop a replay or a
late event from bringing the person back. The engine checks the contacts of every
batch (`pulse.state.suppression.batch_guards`, with the suppression list) and skips
(and counts, `tombstoned`) their events.

Export and delete find aliases, timer indexes and trigger streams with `SCAN` and
read the streams whole: offline tools, never on the hot path. The model's label
buffer and the labels stream keep contact ids of labels not yet learned (at most
the model's horizon); they are not edited and age out (see README).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Collection, Iterator
from typing import Any

import msgspec
import redis

from pulse import windows
from pulse.contact import ContactState, decode_state
from pulse.identity import decode_alias, is_anonymous
from pulse.state.keys import KeyLayout
from pulse.state.outbox import iter_triggers
from pulse.state.seam import translate

__all__ = ["Privacy", "tombstone_id"]


def tombstone_id(prefix: str, key: str) -> str:
    """The tombstone of contact key `key` under `prefix`: a keyed hash, not the id.

    >>> tombstone_id("pulse", "c42") == tombstone_id("pulse", "c42") != tombstone_id("x", "c42")
    True
    >>> len(tombstone_id("pulse", "c42"))
    32
    """
    salt = prefix.encode()[:16]
    digest = hashlib.blake2b(key.encode(), digest_size=16, key=salt, person=b"pulse-tombstone")
    return digest.hexdigest()


class Privacy:
    """Export, delete and tombstones for one key prefix (see the module docstring)."""

    def __init__(self, client: redis.Redis, layout: KeyLayout) -> None:
        self.client = client
        self.layout = layout
        self.tombstones = f"{layout.prefix}:tombstones"  # `suppression.tombstones_key`

    # -- the engine's check ------------------------------------------------------

    def tombstoned(self, keys: Collection[str]) -> set[str]:
        """Which of `keys` were deleted (one `SMISMEMBER`; none asked, no round trip)."""
        keys = list(keys)
        if not keys:
            return set()
        ids = [tombstone_id(self.layout.prefix, k) for k in keys]
        with translate(f"reading tombstones `{self.tombstones}` failed"):
            found: Any = self.client.smismember(self.tombstones, ids)
        return {k for k, is_member in zip(keys, found, strict=True) if is_member}

    def is_tombstoned(self, key: str) -> bool:
        """Whether contact `key` was deleted."""
        return key in self.tombstoned([key])

    # -- export ------------------------------------------------------------------

    def export(self, key: str) -> dict[str, Any] | None:
        """Everything held about `key` (and the contact its alias names), as JSON-ready
        builtins; `None` when nothing is held."""
        contact, aliases = self._identities(key)
        keys = [contact, *aliases]
        states = {k: s for k in keys if (s := self._state(k)) is not None}
        timers = self._indexed_timers(keys)
        triggers = [t for _, _, t in self._triggers(keys)]
        if not states and not aliases and not timers and not triggers:
            return None
        return {
            "contact": contact,
            "aliases": aliases,
            "adopted": self._adopted(aliases),
            "states": {k: _decoded(s) for k, s in states.items()},
            "traits": {k: _traits(s) for k, s in states.items()},
            "timers": {
                k: {name: _named(t) for name, t in s.timers.items()}
                for k, s in states.items()
                if s.timers
            },
            "timer_index": timers,
            "triggers": triggers,
            "tombstoned": self.is_tombstoned(contact),
        }

    # -- delete ------------------------------------------------------------------

    def delete(self, key: str) -> dict[str, Any]:
        """Remove everything held about `key` and tombstone its ids; a summary of what went.

        Deleting twice is harmless: the second finds nothing and says so.
        """
        contact, aliases = self._identities(key)
        keys = [contact, *aliases]
        if key not in keys:
            keys.append(key)
        layout = self.layout
        state_keys = [layout.contact(k) for k in keys]
        # An alias, and with worker processes its adoption and any hand-off not taken.
        alias_keys = [layout.alias(k) for k in keys]
        alias_keys += [layout.adopted(k) for k in keys] + self._handoffs(keys)
        timer_entries = self._indexed_timers(keys)
        by_stream: dict[str, list[bytes]] = {}
        for stream, entry_id, _ in self._triggers(keys):
            by_stream.setdefault(stream, []).append(entry_id)
        tombstones = [tombstone_id(layout.prefix, k) for k in keys]
        with translate(f"deleting contact `{key}` failed"):
            # One key per command: the ids' keys lie in different Redis Cluster slots.
            pipe = self.client.pipeline(transaction=False)
            for name in (*state_keys, *alias_keys):
                pipe.delete(name)
            for index, members in timer_entries.items():
                pipe.zrem(index, *members)
            for stream, ids in by_stream.items():
                pipe.xdel(stream, *ids)
            pipe.sadd(self.tombstones, *tombstones)
            replies = [int(n) for n in pipe.execute()]
        n, a, m = len(keys), len(alias_keys), len(timer_entries)
        states, alias_count = sum(replies[:n]), sum(replies[n : n + a])
        timers = sum(replies[n + a : n + a + m])
        triggers = sum(replies[n + a + m : -1])
        return {
            "contact": contact,
            "ids": keys,
            "states_deleted": states,
            "aliases_deleted": alias_count,
            "timer_entries_deleted": timers,
            "triggers_deleted": triggers,
            "tombstones_added": int(replies[-1]),
        }

    # -- reading -----------------------------------------------------------------

    def _identities(self, key: str) -> tuple[str, list[str]]:
        """The contact `key` is (through its alias, if anonymous) and its anonymous ids."""
        contact = key
        with translate(f"reading the alias of `{key}` failed"):
            raw: Any = self.client.get(self.layout.alias(key))
        if raw is not None:
            contact = decode_alias(raw).contact
        return contact, sorted(k for k in self._aliases_of(contact) if k != contact)

    def _aliases_of(self, contact: str) -> Iterator[str]:
        """Anonymous keys whose alias names `contact` (a `SCAN` over alias keys, read in
        pipelined chunks)."""
        pattern = self.layout.contact_glob("alias")
        with translate(f"scanning aliases under `{self.layout.prefix}` failed"):
            names = self.client.scan_iter(match=pattern, count=1000)
            while chunk := list(itertools.islice(names, 1000)):
                pipe = self.client.pipeline(transaction=False)
                for name in chunk:
                    pipe.get(name)
                for name, raw in zip(chunk, pipe.execute(), strict=True):
                    if raw is not None and decode_alias(raw).contact == contact:
                        yield self.layout.contact_of(name.decode(), "alias")

    def _adopted(self, aliases: list[str]) -> dict[str, str]:
        """Of the anonymous keys, those another worker process adopted -> the contact."""
        with translate(f"reading adoptions under `{self.layout.prefix}` failed"):
            pipe = self.client.pipeline(transaction=False)
            for key in aliases:
                pipe.get(self.layout.adopted(key))
            replies = pipe.execute() if aliases else []
        return {k: raw.decode() for k, raw in zip(aliases, replies, strict=True) if raw}

    def _handoffs(self, keys: Collection[str]) -> list[str]:
        """Identity hand-offs between worker processes not taken yet (`pulse.handoff`):
        rare and short-lived, found with one `SCAN` per anonymous key."""
        found: list[str] = []
        with translate(f"scanning identity hand-offs under `{self.layout.prefix}` failed"):
            for key in keys:
                if is_anonymous(key):
                    pattern = self.layout.handoff_glob(key)
                    found += [n.decode() for n in self.client.scan_iter(match=pattern)]
        return found

    def _state(self, key: str) -> ContactState | None:
        with translate(f"reading the state of `{key}` failed"):
            raw: Any = self.client.get(self.layout.contact(key))
            return None if raw is None else decode_state(raw)

    def _indexed_timers(self, keys: list[str]) -> dict[str, list[str]]:
        """Per timer index that holds any of `keys`: those keys."""
        pattern = self.layout.timer_pattern()
        found: dict[str, list[str]] = {}
        with translate(f"scanning timer indexes under `{self.layout.prefix}` failed"):
            for name in self.client.scan_iter(match=pattern, count=1000, _type="zset"):
                scores: Any = self.client.zmscore(name, keys)
                members = [k for k, s in zip(keys, scores, strict=True) if s is not None]
                if members:
                    found[name.decode()] = members
        return found

    def _triggers(self, keys: list[str]) -> Iterator[tuple[str, bytes, dict[str, Any]]]:
        """(stream, entry id, trigger) for every trigger about one of `keys`."""
        wanted = set(keys)
        needles = [msgspec.json.encode({"contact_id": k})[1:-1] for k in keys]
        streams = sorted({self.layout.group_triggers(self.layout.group(k)) for k in keys})
        for stream in streams:
            for entry_id, raw in iter_triggers(self.client, stream):
                if any(n in raw for n in needles):
                    trigger = msgspec.json.decode(raw)
                    if isinstance(trigger, dict) and trigger.get("contact_id") in wanted:
                        yield stream, entry_id, trigger


def _decoded(state: ContactState) -> dict[str, Any]:
    """A state with its field names (it is stored `array_like`), counts per window."""
    named: dict[str, Any] = _named(state)
    named["counts"] = {
        type_: dict(zip(windows.WINDOWS_MS, windows.count_all(buckets, state.last_ts), strict=True))
        for type_, buckets in state.counts.items()
    }
    return named


def _named(value: Any) -> Any:
    """`value` as JSON-ready builtins, structs as objects with their field names.

    >>> from pulse.contact import Timer
    >>> _named({"t": Timer(5, "e1", "rescue")})
    {'t': {'due_ms': 5, 'episode': 'e1', 'trigger': 'rescue'}}
    """
    if isinstance(value, msgspec.Struct):
        return {f: _named(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, dict):
        return {str(k): _named(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_named(v) for v in value]
    return msgspec.to_builtins(value)


def _traits(state: ContactState) -> dict[str, Any]:
    """What identify traits left in a state (pulse keeps whether, not the addresses)."""
    return {
        "has_email": state.has_email,
        "has_phone": state.has_phone,
        "timezone": state.timezone,
        "locale": state.locale,
    }
