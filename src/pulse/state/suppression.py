"""The suppression list: contacts an operator said must not be messaged, per channel.

`<prefix>:suppression` is a hash: contact key -> the channels it is suppressed on,
comma-separated and sorted (`all` for every channel, channel-less triggers too).
`pulse suppress add|remove|list` edits it; the engine reads the entries of each
batch's contacts (`batch_guards`, with the tombstones, one round trip) and hands
them to `pulse.guardrails`, which suppresses their triggers with the reason
`suppression_list`. Unlike tombstones the list holds raw contact ids: an operator
must be able to read it back.

A change applies from the next batch on; a replay decides with the list as it is
when it runs, not as it was when the trigger first fired.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

import msgspec
import redis

from pulse.state.keys import KeyLayout
from pulse.state.privacy import tombstone_id
from pulse.state.seam import translate

__all__ = ["ALL", "BatchGuards", "SuppressionList", "batch_guards"]

ALL = "all"
"""The channel name that suppresses every channel of a contact."""

# KEYS[1] the hash; ARGV[1] "add" or "remove", ARGV[2..] channels, ARGV[n+1..] contacts
# after a "--" marker. Read-modify-write of each field, atomic.
_EDIT = """
local mode, sep = ARGV[1], 0
for i = 2, #ARGV do if ARGV[i] == '--' then sep = i end end
local changed = 0
for c = sep + 1, #ARGV do
  local contact = ARGV[c]
  local held, set = redis.call('HGET', KEYS[1], contact), {}
  if held then for ch in string.gmatch(held, '[^,]+') do set[ch] = true end end
  for i = 2, sep - 1 do set[ARGV[i]] = (mode == 'add') or nil end
  local names = {}
  for ch in pairs(set) do names[#names + 1] = ch end
  table.sort(names)
  local value = table.concat(names, ',')
  if value ~= (held or '') then
    changed = changed + 1
    if value == '' then redis.call('HDEL', KEYS[1], contact)
    else redis.call('HSET', KEYS[1], contact, value) end
  end
end
return changed
"""


class BatchGuards(msgspec.Struct, frozen=True):
    """What the engine must know about a batch's contacts before applying it."""

    tombstoned: frozenset[str] = frozenset()
    """Contacts deleted on request: their events are skipped (and counted)."""
    suppressed: dict[str, frozenset[str]] = {}
    """Contact -> channels it is suppressed on (`all`: every one)."""


_NO_GUARDS = BatchGuards()


def suppression_key(layout: KeyLayout) -> str:
    """The suppression list's hash.

    >>> suppression_key(KeyLayout())
    'pulse:suppression'
    """
    return f"{layout.prefix}:suppression"


def tombstones_key(layout: KeyLayout) -> str:
    """The tombstones' set (hashed ids, see `pulse.state.privacy`).

    >>> tombstones_key(KeyLayout())
    'pulse:tombstones'
    """
    return f"{layout.prefix}:tombstones"


def batch_guards(client: redis.Redis, layout: KeyLayout, keys: Collection[str]) -> BatchGuards:
    """Tombstones and suppressions of `keys`, in one round trip (none for no keys)."""
    keys = list(keys)
    if not keys:
        return _NO_GUARDS
    ids = [tombstone_id(layout.prefix, k) for k in keys]
    with translate("reading tombstones and the suppression list failed"):
        pipe = client.pipeline(transaction=False)
        pipe.smismember(tombstones_key(layout), ids)
        pipe.hmget(suppression_key(layout), keys)
        dead, channels = pipe.execute()
    if not any(dead) and not any(channels):
        return _NO_GUARDS
    return BatchGuards(
        frozenset(k for k, is_dead in zip(keys, dead, strict=True) if is_dead),
        {
            k: frozenset(raw.decode().split(","))
            for k, raw in zip(keys, channels, strict=True)
            if raw
        },
    )


class SuppressionList:
    """The operator's side: add, remove and list suppressed contacts."""

    def __init__(self, client: redis.Redis, layout: KeyLayout) -> None:
        self.client = client
        self.key = suppression_key(layout)
        self._edit = client.register_script(_EDIT)

    def add(self, contacts: Iterable[str], channels: Iterable[str]) -> int:
        """Suppress `contacts` on `channels`; returns how many entries changed."""
        return self._apply("add", contacts, channels)

    def remove(self, contacts: Iterable[str], channels: Iterable[str]) -> int:
        """Lift `channels` (`all` lifts only `all`); returns how many entries changed."""
        return self._apply("remove", contacts, channels)

    def clear(self, contacts: Iterable[str]) -> int:
        """Lift every suppression of `contacts`; returns how many were listed."""
        contacts = list(contacts)
        if not contacts:
            return 0
        with translate(f"editing the suppression list `{self.key}` failed"):
            return int(self.client.hdel(self.key, *contacts))

    def entries(self) -> dict[str, list[str]]:
        """Every suppressed contact and its channels, sorted by contact."""
        with translate(f"reading the suppression list `{self.key}` failed"):
            raw: Any = self.client.hgetall(self.key)
        return {
            contact.decode(): value.decode().split(",") for contact, value in sorted(raw.items())
        }

    def _apply(self, mode: str, contacts: Iterable[str], channels: Iterable[str]) -> int:
        contacts, channels = list(contacts), sorted(set(channels))
        for name in channels:
            if not name or "," in name or name == "--":
                raise ValueError(f"`{name}` is not a channel name")
        if not contacts or not channels:
            return 0
        with translate(f"editing the suppression list `{self.key}` failed"):
            changed = self._edit(keys=[self.key], args=[mode, *channels, "--", *contacts])
        return int(changed)
