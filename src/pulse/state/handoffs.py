"""The Redis side of identity across worker processes: hand-off records and adoptions.

An identify whose anonymous id belongs to one worker process's part and whose
contact to another's (`pulse.handoff`) is written here as two records in the
anonymous id's slot: the `Handoff` (`KeyLayout.handoff`), which the anonymous id's
part writes as it reaches the identify (`write_handoffs`, ahead of its batch
commit: the contact's part may be waiting for it), and the adoption
(`KeyLayout.adopted`), which the contact's part writes with the commit that merges
the hand-off and deletes it. Records are msgpack read into typed structs: nothing
read is unpickled or evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from pulse.errors import StateError
from pulse.identity import Handoff
from pulse.state.keys import KeyLayout
from pulse.state.reads import Reads, queue_mget
from pulse.state.seam import execute, translate

__all__ = [
    "Adoption",
    "CrossReads",
    "HandoffOut",
    "decode_handoff",
    "encode_handoff",
    "read_handoff",
    "write_handoffs",
]

_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Handoff)


class HandoffOut(msgspec.Struct, frozen=True, gc=False):
    """A hand-off this process writes: which anonymous id, which identify, what moves."""

    anonymous_key: str
    token: str
    handoff: Handoff


class Adoption(msgspec.Struct, frozen=True, gc=False):
    """A hand-off this process took: deleted at commit and, unless it was a conflict
    (`contact` empty), the adoption `anonymous_key -> contact` written."""

    anonymous_key: str
    contact: str
    token: str


def encode_handoff(handoff: Handoff) -> bytes:
    """A hand-off as Redis keeps it.

    >>> from pulse.contact import ContactState
    >>> decode_handoff(encode_handoff(Handoff("moved", ContactState(purchases=1)))).state.purchases
    1
    """
    return _ENCODER.encode(handoff)


def decode_handoff(raw: bytes, key: str = "") -> Handoff:
    """The hand-off `encode_handoff` wrote; a corrupt one is a `StateError` naming its key."""
    try:
        return _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise StateError(f"the identity hand-off `{key}` in Redis is corrupt: {exc}") from exc


def write_handoffs(
    client: Any, layout: KeyLayout, handoffs: Iterable[HandoffOut], ttl_s: int
) -> None:
    """Write hand-offs now, ahead of the batch commit (another process may be waiting)."""
    pipe = client.pipeline(transaction=False)
    for out in handoffs:
        key = layout.handoff(out.anonymous_key, out.token)
        pipe.set(key, encode_handoff(out.handoff), ex=ttl_s)
    execute(pipe, "writing identity hand-offs failed")


class CrossReads:
    """What a worker process reads for identity across parts with a batch's states
    (`ContactStore.load_batch`, same round trip): the adoptions of other parts'
    anonymous keys, and the hand-offs of the batch's identifies across parts."""

    __slots__ = ("_adopted", "_handoffs", "_reads", "adopted", "handoffs")

    def __init__(self, adopted: list[str], handoffs: list[tuple[str, str]]) -> None:
        self._adopted, self._handoffs = adopted, handoffs
        self._reads = Reads([], [])
        self.adopted: dict[str, str] = {}
        """Anonymous key -> the contact this process adopted it into (those found)."""
        self.handoffs: dict[tuple[str, str], Handoff] = {}
        """(anonymous key, token) -> its hand-off (those already written)."""

    def queue(self, pipe: Any, layout: KeyLayout) -> None:
        self._reads = queue_mget(pipe, layout, self._adopted, layout.adopted)
        # One `GET` each, in the anonymous key's slot: few per batch (the identifies
        # across parts).
        for anonymous_key, token in self._handoffs:
            pipe.get(layout.handoff(anonymous_key, token))

    def take(self, replies: list[Any]) -> None:
        """Take this read's replies off the front of the pipeline's."""
        for key, raw in zip(self._adopted, self._reads.take(replies), strict=True):
            if raw is not None:
                self.adopted[key] = raw.decode()
        for item in self._handoffs:
            raw = replies.pop(0)
            if raw is not None:
                self.handoffs[item] = decode_handoff(raw, item[0])


def read_handoff(client: Any, layout: KeyLayout, anonymous_key: str, token: str) -> Handoff | None:
    """One hand-off, if it has been written (a process waiting for it polls this)."""
    key = layout.handoff(anonymous_key, token)
    with translate(f"reading the identity hand-off `{key}` failed"):
        raw = client.get(key)
    return None if raw is None else decode_handoff(raw, key)
