"""Order independence: any arrival within the allowed lateness gives the time-sorted answer.

Random event streams for a few contacts are replayed through the real flow twice:
sorted by event time, and shuffled so that each event still arrives before the
watermark passes it (each is delayed by a random amount up to `allowed_lateness`).
Both must give the same triggers (ids, times, scores, stages, reasons) and the
same contact states, with the shipped pack (model on) and with the model made
eager enough to learn and blend within a short stream.
"""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from replay_tools import comparable, contact_states

from pulse.rules import default_rules_path

LATENESS_MS = 5_000
START_MS = 1_767_607_200_000  # 2026-01-05T10:00:00Z
UNTIL = "2026-03-01T00:00:00Z"

EAGER_MODEL = """
model:
  warmup_labels: 2
  learn_every: 10m
  sample_every: 1m
  horizon: 1h
"""

_TYPES = (
    "page_view", "product_view", "product_view", "add_to_cart", "add_to_cart",
    "remove_from_cart", "checkout_started", "purchase", "refund", "signup", "email_open",
    "email_sent", "search",
)  # fmt: skip
_GAPS_MS = (0, 0, 1_000, 2_000, 4_000, 30_000, 600_000, 2_700_000, 7_200_000, 20 * 86_400_000)


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[dict[str, Any]], int]:
    """A time-sorted stream of 5-60 events over 3 contacts, and a seed to shuffle it."""
    count = draw(st.integers(5, 60))
    ts, events = START_MS, []
    for n in range(count):
        ts += draw(st.sampled_from(_GAPS_MS))
        type_ = draw(st.sampled_from(_TYPES))
        props: dict[str, Any] = {}
        if type_ in ("product_view", "add_to_cart", "remove_from_cart"):
            props = {"product_id": draw(st.sampled_from(["p1", "p2"])), "price": 25.0}
        elif type_ in ("purchase", "refund"):
            props = {"order_id": f"o{draw(st.integers(1, 3))}", "revenue": 50.0}
        contact = draw(st.sampled_from(["c1", "c2", "c3"]))
        events.append(
            {"event_id": f"e{n}", "type": type_, "ts": ts, "contact_id": contact, "props": props}
        )
    return events, draw(st.integers(0, 2**32))


def shuffled_within_lateness(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Each event delayed by up to the allowed lateness: none arrives after its watermark."""
    rng = random.Random(seed)
    delayed = [(e["ts"] + rng.uniform(0, LATENESS_MS), n, e) for n, e in enumerate(events)]
    return [e for _, _, e in sorted(delayed, key=lambda item: item[:2])]


def _write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    return path


@pytest.mark.parametrize("model", ["shipped", "eager"])
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=streams())
def test_arrival_order_within_lateness_changes_no_trigger_and_no_state(
    stream: tuple[list[dict[str, Any]], int],
    model: str,
    replay: Any,
    redis_client: redis.Redis,
    tmp_path: Path,
) -> None:
    events, seed = stream
    rules = default_rules_path().read_text()
    if model == "eager":
        rules += EAGER_MODEL
    arrival = shuffled_within_lateness(events, seed)
    tag = f"o{uuid.uuid4().hex[:10]}"  # every example in its own keys

    in_order = replay(
        _write(tmp_path / "sorted.jsonl", events), rules=rules, until=UNTIL, key_prefix=tag + "s"
    )
    # One event per batch: every release decision is taken event by event.
    shuffled = replay(
        _write(tmp_path / "shuffled.jsonl", arrival),
        rules=rules,
        until=UNTIL,
        key_prefix=tag + "x",
        batch_size=1,
    )

    assert comparable(shuffled) == comparable(in_order)
    assert contact_states(redis_client, tag + "x") == contact_states(redis_client, tag + "s")
