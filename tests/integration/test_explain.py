"""`pulse explain`: score part by part with decay, stages, timers, and trigger lineage."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from pulse.cli import main
from pulse.events import parse_ts
from pulse.explain import explain_contact
from pulse.rules import default_rules_path, load_rules, parse_rules

T0 = "2026-01-05T10:00:00Z"
EVENTS = [
    {"event_id": "v1", "type": "page_view", "ts": T0, "contact_id": "c1"},
    {"event_id": "s1", "type": "signup", "ts": T0, "contact_id": "c1"},
    {"event_id": "a1", "type": "add_to_cart", "ts": "2026-01-05T11:00:00Z", "contact_id": "c2",
     "props": {"product_id": "p1", "price": 20.0}},
    {"event_id": "a2", "type": "add_to_cart", "ts": "2026-01-05T12:00:00Z", "contact_id": "c3",
     "props": {"product_id": "p1", "price": 20.0}},
]  # fmt: skip


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    return path


@pytest.fixture
def client(redis_url: str, replay, events_file: Path) -> redis.Redis:
    # Until 12:10: c2's cart (11:00) is abandoned at 11:30, c3's (12:00) is still pending.
    replay(events_file, until="2026-01-05T12:10:00Z")
    return redis.Redis.from_url(redis_url)


def test_parts_show_held_points_decay_and_sum_to_the_score(
    client: redis.Redis, prefix: str
) -> None:
    rules = load_rules(default_rules_path())
    two_weeks_later = parse_ts("2026-01-19T10:00:00Z")
    x = explain_contact(client, prefix, "c1", rules, at_ms=two_weeks_later)
    assert x is not None
    parts = {p.name: p for p in x.parts}
    assert (parts["signup"].held, parts["signup"].decay, parts["signup"].points) == (10, 0.5, 5)
    assert (parts["page_view"].held, parts["page_view"].points) == (1, 0.5)
    assert parts["signup"].event == "signup" and parts["page_view"].cap == 15
    assert x.score == pytest.approx(sum(p.points for p in x.parts)) == 5.5


def test_pending_timer_and_stage_history_are_shown(client: redis.Redis, prefix: str) -> None:
    x = explain_contact(client, prefix, "c3", load_rules(default_rules_path()))
    assert x is not None
    (timer,) = [t for t in x.timers if t.trigger == "abandon_cart"]  # the model has its own
    assert (timer.trigger, timer.due, timer.armed_by) == (
        "abandon_cart",
        "2026-01-05T12:30:00.000Z",
        "a2",
    )
    assert not timer.is_overdue
    assert x.stage == "decision" and x.stage_history[-1] == ("2026-01-05T12:00:00.000Z", "decision")


def test_trigger_lineage_names_the_arming_event_and_the_rules_version(
    client: redis.Redis, prefix: str, events_file: Path
) -> None:
    rules = load_rules(default_rules_path())
    x = explain_contact(client, prefix, "c2", rules, events_path=events_file)
    assert x is not None
    (lineage,) = x.triggers
    assert lineage.trigger.trigger == "abandon_cart"
    assert lineage.trigger.reason["armed_by"] == "a1" and lineage.trigger.reason["cart_value"] == 20
    assert lineage.trigger.rules_version == rules.version and lineage.is_current_rules
    assert [e["event_id"] for e in lineage.events] == ["a1"]
    changed = parse_rules(default_rules_path().read_text() + "\n# changed\n")
    y = explain_contact(client, prefix, "c2", changed)
    assert y is not None and not y.triggers[0].is_current_rules


def test_scan_limit_bounds_the_stream_scan(client: redis.Redis, prefix: str) -> None:
    x = explain_contact(client, prefix, "c1", load_rules(default_rules_path()), scan_limit=1)
    assert x is not None and x.scanned == 1


def test_cli_prints_parts_timers_and_lineage(
    client: redis.Redis, redis_url: str, prefix: str, events_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    args = ["explain", "c2", "--redis-url", redis_url, "--prefix", prefix,
            "--events", str(events_file)]  # fmt: skip
    assert main(args) == 0
    out, _ = capsys.readouterr()
    assert "score, part by part" in out and "add_to_cart" in out
    assert "abandon_cart" in out and "armed_by=a1" in out and "current rules" in out
    assert "'event_id': 'a1'" in out


def test_cli_json_is_the_explanation(
    client: redis.Redis, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "c1", "--redis-url", redis_url, "--prefix", prefix, "--json"]) == 0
    data = orjson.loads(capsys.readouterr().out)
    assert data["contact"] == "c1" and data["score"] == 11
    assert data["triggers"][0]["trigger"]["trigger"] == "welcome"


def test_cli_unknown_contact_exits_1(
    client: redis.Redis, redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "nobody", "--redis-url", redis_url, "--prefix", prefix]) == 1
    assert "no state for contact `nobody`" in capsys.readouterr().err


def test_cli_reads_the_redis_url_from_a_file(
    client: redis.Redis,
    redis_url: str,
    prefix: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url_file = tmp_path / "redis-url"
    url_file.write_text(redis_url + "\n")
    args = ["explain", "c1", "--redis-url-file", str(url_file), "--prefix", prefix, "--json"]
    assert main(args) == 0
    assert orjson.loads(capsys.readouterr().out)["contact"] == "c1"
