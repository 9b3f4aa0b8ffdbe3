"""What replay tests compare: triggers without their wall-clock stamp, contact states."""

from __future__ import annotations

from typing import Any

import msgspec
import redis

from pulse.triggers import Trigger


def comparable(triggers: list[Trigger]) -> list[dict[str, Any]]:
    """Triggers without their wall-clock stamp, in a canonical order."""
    rows = [msgspec.to_builtins(t) for t in triggers]
    for row in rows:
        row.pop("emitted_at")
    return sorted(rows, key=lambda r: (r["trigger_id"], r["ts_ms"]))


def contact_states(client: redis.Redis, prefix: str) -> dict[str, bytes]:
    """Every contact state under `prefix`, keyed without it (`{c:<contact>}:s`)."""
    keys = sorted(client.scan_iter(match=f"{prefix}:{{c:*}}:s"))
    return {k.decode().split(":", 1)[1]: v for k, v in zip(keys, client.mget(keys), strict=True)}
