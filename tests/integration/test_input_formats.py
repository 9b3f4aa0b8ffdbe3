"""Raw vendor files through the real flow and Redis: Segment and GA4 give pulse's triggers
and revenue, and a run whose input is mostly rejected exits 3 with the reasons."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).parents[1] / "connectors" / "formats"))

from format_samples import ga4_body, ga4_row, segment_track, write_lines
from replay_tools import contact_states

from pulse.cli import main
from pulse.contact import decode_state
from pulse.triggers import Trigger

Replay = Callable[..., list[Trigger]]
UNTIL = "2026-01-05T12:00:00Z"  # two hours after the stories start: abandon timers are due


def revenue(client: redis.Redis, prefix: str, contact: str) -> float:
    return decode_state(contact_states(client, prefix)[f"{{c:{contact}}}:s"]).revenue


def test_a_raw_segment_file_fires_abandon_cart_and_counts_revenue(
    replay: Replay, tmp_path: Path, redis_client: redis.Redis, prefix: str
) -> None:
    messages = [
        # u1 views and carts, then leaves: one abandoned cart worth the product's price
        segment_track("Product Viewed", 1, user="u1", minutes=0),
        segment_track("Product Added", 2, user="u1", minutes=1),
        # u2 carts, checks out and buys
        segment_track("Product Added", 3, user="u2", minutes=2),
        segment_track("Checkout Started", 4, user="u2", minutes=3),
        segment_track("Order Completed", 5, user="u2", minutes=4),
        segment_track("Coupon Applied", 6, user="u2", minutes=5),  # a spec name, no pulse type
    ]
    triggers = replay(write_lines(tmp_path / "segment.jsonl", messages), until=UNTIL)
    abandoned = [t for t in triggers if t.trigger == "abandon_cart"]
    assert [t.contact_id for t in abandoned] == ["u1"]
    assert abandoned[0].reason["cart_value"] == 18.99
    assert revenue(redis_client, prefix, "u2") == 22.5
    assert (tmp_path / "dead_letters.jsonl").read_bytes() == b""  # every line was read


def test_a_raw_ga4_file_fires_abandon_cart_and_counts_revenue(
    replay: Replay, tmp_path: Path, redis_client: redis.Redis, prefix: str
) -> None:
    lines = [
        # one Measurement Protocol body, two events: view and cart, then nothing
        ga4_body(["view_item", "add_to_cart"], client="c.1", user="g1", minutes=0),
        # a BigQuery export: cart, checkout, purchase (revenue from ecommerce.purchase_revenue)
        ga4_row("add_to_cart", pseudo="p.2", user="g2", minutes=1),
        ga4_row("begin_checkout", pseudo="p.2", user="g2", minutes=2),
        ga4_row("purchase", pseudo="p.2", user="g2", minutes=3),
    ]
    triggers = replay(write_lines(tmp_path / "ga4.jsonl", lines), until=UNTIL)
    abandoned = [t for t in triggers if t.trigger == "abandon_cart"]
    assert [t.contact_id for t in abandoned] == ["g1"]
    assert abandoned[0].reason["cart_value"] == 9.99
    assert revenue(redis_client, prefix, "g2") == 12.21


@pytest.mark.parametrize(("share", "status"), [(None, 3), ("1", 0)])
def test_a_mostly_rejected_input_exits_3_with_the_reasons(
    tmp_path: Path, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str],
    share: str | None, status: int,
) -> None:  # fmt: skip
    good = segment_track("Product Viewed", 1, user="u1")
    bad = [
        segment_track("Product Added", n, user="u1") | {"properties": {"price": "cheap"}}
        for n in range(2, 5)
    ]
    events = write_lines(tmp_path / "mostly-bad.jsonl", [good, *bad, "not json"])
    args = ["replay", str(events), "--redis-url", redis_url, "--prefix", prefix,
            "--dead-letters", str(tmp_path / "dead.jsonl")]  # fmt: skip
    if share is not None:
        args += ["--max-rejected-share", share]
    assert main(args) == status
    err = capsys.readouterr().err
    if status:
        assert "4 of 5 input records (80%) were dead-lettered" in err
        assert "3  Segment: Expected a number, got `…` - at `properties.price`" in err
        assert "1  JSON is malformed" in err
    else:
        assert "dead-lettered" not in err


def test_pulse_json_still_exits_0_with_a_few_dead_letters(
    tmp_path: Path, redis_url: str, prefix: str
) -> None:
    lines = [segment_track("Product Viewed", n, user="u1", minutes=n) for n in range(3)] + ["{"]
    events = write_lines(tmp_path / "some-bad.jsonl", lines)
    args = ["replay", str(events), "--redis-url", redis_url, "--prefix", prefix,
            "--dead-letters", str(tmp_path / "dead.jsonl")]  # fmt: skip
    assert main(args) == 0
