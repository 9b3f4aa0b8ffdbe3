"""The trigger stream read back: the Kafka relay's outbox reads, and offline readers.

The trigger stream (`<prefix>:triggers`) is the outbox and the exact record of
what fired (written with the state, once). The relay (`pulse.connectors.kafka.relay`)
reads it after its cursor (`RelayCursor`); offline tools read it rather than the
JSONL or terminal outputs: rule tests and replay comparisons read all of it,
`pulse explain` scans it newest first for one contact. Listing every contact state
and deleting a prefix use `SCAN`, which is why none of these readers may run on the
hot path. Every Redis and decode error becomes a `StateError` (`pulse.state.seam`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import msgspec
import redis

from pulse.contact import ContactState, decode_state
from pulse.state.keys import KeyLayout, is_cluster, layout_for
from pulse.state.seam import translate
from pulse.triggers import Trigger

__all__ = [
    "RelayCursor",
    "delete_prefix",
    "iter_states",
    "iter_triggers",
    "read_all_triggers",
    "read_triggers",
    "recent_triggers",
]


class RelayCursor:
    """What the Kafka relay reads and writes in Redis: its cursor (the last trigger stream
    entry delivered to `topic`) and the entries after it."""

    def __init__(self, client: redis.Redis, layout: KeyLayout, topic: str, group: int = 0) -> None:
        self.client = client
        self.stream = layout.group_triggers(group)
        self.key = layout.relay(topic, group)

    def read(self) -> str:
        """The cursor: the last entry id delivered, `0-0` before the first."""
        with translate(f"reading relay cursor `{self.key}` failed"):
            raw = self.client.get(self.key)
        return raw.decode() if isinstance(raw, bytes) else "0-0"

    def save(self, cursor: str) -> None:
        """Record `cursor` once every entry up to it is on the topic."""
        with translate(f"recording relay cursor `{self.key}` failed"):
            self.client.set(self.key, cursor)

    def entries_after(self, cursor: str, count: int) -> list[tuple[str, dict[bytes, bytes]]]:
        """Up to `count` stream entries after `cursor`, oldest first: `(entry id, fields)`."""
        with translate(f"reading trigger stream `{self.stream}` failed"):
            raw: Any = self.client.xrange(self.stream, min=f"({cursor}", count=count)
        return [(entry_id.decode(), fields) for entry_id, fields in raw]

    def close(self) -> None:
        """Let go of the client."""
        self.client.close()


_DECODER = msgspec.json.Decoder(Trigger)


def iter_triggers(
    client: redis.Redis, stream: str, *, newest_first: bool = False, chunk: int = 5_000
) -> Iterator[tuple[bytes, bytes]]:
    """`(entry id, trigger JSON)` per stream entry, in chunks of `chunk` entries."""
    bound = "+" if newest_first else "-"
    while True:
        with translate(f"cannot read trigger stream `{stream}`"):
            entries: Any = (
                client.xrevrange(stream, max=bound, min="-", count=chunk)
                if newest_first
                else client.xrange(stream, min=bound, max="+", count=chunk)
            )
        for entry_id, fields in entries:
            yield entry_id, fields[b"json"]
        if len(entries) < chunk:
            return
        bound = "(" + entries[-1][0].decode()  # exclusive: the next chunk starts after it


def read_triggers(client: redis.Redis, stream: str) -> list[Trigger]:
    """Every trigger on a stream, oldest first."""
    with translate(f"trigger stream `{stream}`"):
        return [_DECODER.decode(raw) for _, raw in iter_triggers(client, stream)]


def read_all_triggers(client: redis.Redis, layout: KeyLayout) -> list[Trigger]:
    """Every trigger of every trigger stream of a layout (one per key group on a Redis
    Cluster), each stream oldest first, the streams in order of their entry ids."""
    if len(layout.trigger_streams) == 1:
        return read_triggers(client, layout.triggers)
    entries: list[tuple[tuple[int, int], bytes]] = []
    for stream in layout.trigger_streams:
        for entry_id, raw in iter_triggers(client, stream):
            ms, _, seq = entry_id.decode().partition("-")
            entries.append(((int(ms), int(seq)), raw))
    entries.sort(key=lambda entry: entry[0])
    with translate("trigger streams"):
        return [_DECODER.decode(raw) for _, raw in entries]


def recent_triggers(
    client: redis.Redis, stream: str, contact: str, *, limit: int, scan_limit: int
) -> tuple[list[Trigger], int]:
    """One contact's newest `limit` triggers, scanning at most `scan_limit` entries.

    Returns the triggers (newest first) and how many entries were scanned. Entries
    are matched on their raw bytes before decoding, so a scan costs little more
    than reading the stream.
    """
    needle = msgspec.json.encode({"contact_id": contact})[1:-1]
    found: list[Trigger] = []
    scanned = 0
    for _, raw in iter_triggers(client, stream, newest_first=True):
        scanned += 1
        if needle in raw:
            with translate(f"trigger stream `{stream}`"):
                trigger = _DECODER.decode(raw)
            if trigger.contact_id == contact:
                found.append(trigger)
                if len(found) >= limit:
                    break
        if scanned >= scan_limit:
            break
    return found, scanned


def delete_prefix(client: redis.Redis, prefix: str) -> int:
    """Delete every key under `prefix:` (offline clean-up; uses SCAN). Returns the count."""
    deleted = 0
    batch: list[bytes] = []
    with translate(f"cannot delete the keys under `{prefix}`"):
        for key in client.scan_iter(match=_glob_escape(prefix) + ":*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(client.unlink(*batch))
                batch = []
        if batch:
            deleted += int(client.unlink(*batch))
    return deleted


def iter_states(
    client: redis.Redis, prefix: str, chunk: int = 1000
) -> Iterator[tuple[str, ContactState]]:
    """`(contact key, state)` for every contact under a prefix, in no particular order.

    A contact whose id was too long or held braces is listed by its hashed key.
    """
    layout = layout_for(client, prefix)
    keys: list[bytes] = []
    with translate(f"cannot list contact states under `{prefix}`"):
        for key in client.scan_iter(match=layout.contact_glob(), count=chunk):
            keys.append(key)
            if len(keys) >= chunk:
                yield from _decode_states(client, layout, keys)
                keys = []
        if keys:
            yield from _decode_states(client, layout, keys)


def _decode_states(
    client: redis.Redis, layout: KeyLayout, keys: list[bytes]
) -> Iterator[tuple[str, ContactState]]:
    # A cluster's MGET must stay in one slot: redis-py splits it by slot.
    cluster: Any = client
    raws: Any = cluster.mget_nonatomic(keys) if is_cluster(client) else client.mget(keys)
    for key, raw in zip(keys, raws, strict=True):
        if raw is not None:  # expired between SCAN and MGET
            yield layout.contact_of(key.decode()), decode_state(raw)


def _glob_escape(text: str) -> str:
    r"""`text` matched literally in a Redis `SCAN MATCH` pattern.

    >>> _glob_escape("a*b{c}")
    'a\\*b{c}'
    """
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
