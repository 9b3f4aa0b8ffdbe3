"""The Lua scripts of a batch commit, and the part of a commit one script call takes.

Redis runs a script atomically; the store (`pulse.state.store`) writes each batch
with one call per slot: one in all on one server, one per key group and one for the
meta group on a Redis Cluster (the two-phase commit described below).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["APPLY", "COMMIT", "PREPARE", "CommitPart"]

# A batch commit is one Lua script per slot: Redis runs a script atomically, so what
# it writes lands together or not at all. On one server the whole batch is one call of
# `COMMIT`: states, timer index, triggers, counters, model and source positions. It
# refuses, without writing anything, a commit it has already applied (a retry after a
# lost reply), recognised by the writer's commit sequence and by the source positions;
# and a Redis that lost its data under a running flow (the run marker is gone).
# c (ARGV[1], msgpack; Redis's cmsgpack reads no binary type, so every blob travels as
# an argument of its own, named by index) holds, each part optional:
#   {marker, seq = {key, value}, positions = {key, {{stream, expected, new}, ...}},
#    states = {{key, blob, timers key, member, due or -1}, ...}, ttl,
#    triggers = {key, maxlen, {{id, json}, ...}}, counters = {{key, {{field, n}, ...}}, ...},
#    sets = {{key, value}, ...}, incrs = {key, ...}, hashes = {{key, {{f, v}, ...}}, ...},
#    lease = {key, owner, ms}, labels = {key, maxlen, {{writer, example}, ...}},
#    merges = {{alias key, alias value, state key or '', timers key or '', member}, ...},
#    expiring = {{key, value}, ...} (set with the state TTL), deletes = {key, ...},
#    decided = {key, writer, value}}
# where blob, json, value and example are argument indexes (A[i + off]).
BODY = """
if c.marker and redis.call('EXISTS', c.marker) == 0 then
  return redis.error_reply('PULSE_LOST_DATA run marker ' .. c.marker .. ' is gone')
end
if c.seq and redis.call('GET', c.seq[1]) == c.seq[2] then return 'applied' end
if c.positions then
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
end
if c.seq then redis.call('SET', c.seq[1], c.seq[2], 'EX', 86400) end
for _, st in ipairs(c.states or {}) do
  redis.call('SET', st[1], A[st[2] + off], 'EX', c.ttl)
  if st[5] < 0 then redis.call('ZREM', st[3], st[4])
  else redis.call('ZADD', st[3], st[5], st[4]) end
end
local t = c.triggers
if t then
  for _, tr in ipairs(t[3]) do
    redis.call('XADD', t[1], 'MAXLEN', '~', t[2], '*', 'id', tr[1], 'json', A[tr[2] + off])
  end
end
for _, h in ipairs(c.counters or {}) do
  for _, fv in ipairs(h[2]) do redis.call('HINCRBY', h[1], fv[1], fv[2]) end
end
for _, kv in ipairs(c.sets or {}) do redis.call('SET', kv[1], A[kv[2] + off]) end
for _, k in ipairs(c.incrs or {}) do redis.call('INCR', k) end
for _, h in ipairs(c.hashes or {}) do
  for _, fv in ipairs(h[2]) do redis.call('HSET', h[1], fv[1], fv[2]) end
end
if c.lease and c.lease[1] then redis.call('SET', c.lease[1], c.lease[2], 'PX', c.lease[3]) end
if c.labels and c.labels[1] then
  for _, l in ipairs(c.labels[3]) do
    local lk = c.labels[1]
    redis.call('XADD', lk, 'MAXLEN', '~', c.labels[2], '*', 'writer', l[1], 'example',
      A[l[2] + off])
  end
end
for _, m in ipairs(c.merges or {}) do
  redis.call('SET', m[1], m[2], 'NX', 'EX', c.ttl)
  if m[3] ~= '' then redis.call('DEL', m[3]) end
  if m[4] ~= '' then redis.call('ZREM', m[4], m[5]) end
end
for _, kv in ipairs(c.expiring or {}) do redis.call('SET', kv[1], A[kv[2] + off], 'EX', c.ttl) end
for _, k in ipairs(c.deletes or {}) do redis.call('DEL', k) end
if c.decided then redis.call('HSET', c.decided[1], c.decided[2], c.decided[3]) end
return 'ok'
"""

COMMIT = "local A, off = ARGV, 0\nlocal c = cmsgpack.unpack(ARGV[1])\n" + BODY

# Redis Cluster: a batch spans key groups (slots), so it commits in two phases.
# 1. `PREPARE`, per key group: the group's part (the commit and its blobs) is stored
#    in the group, under the writer's `prepared` key (a list: seq, commit, blobs).
# 2. One `COMMIT` in the meta group decides: it checks the marker, the sequence and
#    the positions as on one server, writes counters, positions and the model, and
#    records the decision (writer -> "seq:groups").
# 3. `APPLY`, per key group: applies the prepared part if it is still this sequence's,
#    and deletes it. Applying twice is impossible (the part is gone), so a restart
#    applies what a crashed writer decided but did not apply (`recover`); an undecided
#    part is never applied (its positions did not move: the replay redoes the batch)
#    and expires.
PREPARE = """
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
redis.call('EXPIRE', KEYS[1], 86400)
return 'ok'
"""

APPLY = (
    """
local A = redis.call('LRANGE', KEYS[1], 0, -1)
if #A == 0 or A[1] ~= ARGV[1] then return 'gone' end
redis.call('DEL', KEYS[1])
local off = 1
local c = cmsgpack.unpack(A[2])
"""
    + BODY
)

_ENCODER = msgspec.msgpack.Encoder()


class CommitPart:
    """One Lua call's worth of a batch commit: the commit and its blob arguments."""

    __slots__ = ("_args", "commit")

    def __init__(self) -> None:
        self.commit: dict[str, Any] = {}
        self._args: list[bytes | str] = [b""]

    def blob(self, value: bytes | str) -> int:
        """Pass `value` as an argument of its own; its index (Lua counts from 1)."""
        self._args.append(value)
        return len(self._args)

    def args(self) -> list[bytes | str]:
        self._args[0] = _ENCODER.encode(self.commit)
        return self._args
