"""Batched reads of one key per contact: one `MGET`, or one per key group on a Redis Cluster."""

from __future__ import annotations

from typing import Any

from pulse.state.keys import KeyLayout

__all__ = ["Reads", "queue_mget"]


class Reads:
    """Where one `queue_mget`'s replies lie in a pipeline's: taken off its front."""

    __slots__ = ("order", "sizes")

    def __init__(self, sizes: list[int], order: list[int]) -> None:
        self.sizes, self.order = sizes, order

    def take(self, replies: list[Any]) -> list[Any]:
        """The values, in the order the keys were asked for; removed from `replies`."""
        values: list[Any] = []
        for _ in self.sizes:
            values.extend(replies.pop(0))
        if not self.order:
            return values
        ordered: list[Any] = [None] * len(values)
        for value, index in zip(values, self.order, strict=True):
            ordered[index] = value
        return ordered


def queue_mget(pipe: Any, layout: KeyLayout, keys: list[str], name: Any) -> Reads:
    """Queue the reads of `name(key)` for `keys`: one `MGET`, or one per key group on a
    Redis Cluster (an `MGET` must stay in one slot)."""
    if not keys:
        return Reads([], [])
    if not layout.groups:
        pipe.mget([name(k) for k in keys])
        return Reads([len(keys)], [])
    by_group: dict[int, list[int]] = {}
    for index, key in enumerate(keys):
        by_group.setdefault(layout.group(key), []).append(index)
    order: list[int] = []
    sizes: list[int] = []
    for indexes in by_group.values():
        pipe.execute_command("MGET", *(name(keys[i]) for i in indexes))
        order.extend(indexes)
        sizes.append(len(indexes))
    return Reads(sizes, order)
