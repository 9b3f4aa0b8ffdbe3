"""`pulse privacy export|delete`: everything about a person, then nothing, and it stays so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest
import redis

from pulse.cli import main
from pulse.state import KeyLayout
from pulse.state.privacy import tombstone_id

EVENTS = [
    {"event_id": "a1", "type": "page_view", "ts": "2026-01-05T09:50:00Z", "anonymous_id": "v1"},
    {"event_id": "s1", "type": "signup", "ts": "2026-01-05T10:00:00Z", "contact_id": "c1",
     "anonymous_id": "v1", "props": {"traits": {"timezone": "Europe/Paris"}}},
    {"event_id": "c1", "type": "add_to_cart", "ts": "2026-01-05T10:05:00Z", "contact_id": "c1",
     "props": {"product_id": "p1", "price": 30.0}},
    {"event_id": "s2", "type": "signup", "ts": "2026-01-05T10:10:00Z", "contact_id": "c2"},
    {"event_id": "v2", "type": "page_view", "ts": "2026-01-05T11:00:00Z", "contact_id": "c2"},
]  # fmt: skip
UNTIL = "2026-01-05T11:00:00Z"


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_export_after_a_replay_holds_state_aliases_traits_timers_and_triggers(
    replay, redis_url: str, prefix: str, events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay(events_file, until=UNTIL)

    code, out = _cli(
        capsys, "privacy", "export", "c1", "--redis-url", redis_url, "--prefix", prefix
    )

    assert code == 0
    held = json.loads(out)
    assert held["contact"] == "c1"
    assert held["aliases"] == ["anon:v1"], "the anonymous id linked by the signup"
    state = held["states"]["c1"]
    assert state["stage"] and state["counts"]["signup"]["24h"] == 1, "decoded, by name"
    assert held["traits"]["c1"]["timezone"] == "Europe/Paris"
    assert {t["trigger"] for t in held["timers"]["c1"].values()} >= {"rescue"}
    assert held["timer_index"], "and the timer index entries"
    kinds = {t["trigger"] for t in held["triggers"]}
    assert {"welcome", "abandon_cart"} <= kinds
    assert {t["contact_id"] for t in held["triggers"]} == {"c1"}
    assert held["tombstoned"] is False
    # Asked by the anonymous id, the same person.
    code, out = _cli(
        capsys, "privacy", "export", "anon:v1", "--redis-url", redis_url, "--prefix", prefix
    )
    assert json.loads(out)["contact"] == "c1"


def test_delete_removes_everything_and_a_replay_does_not_recreate_the_contact(
    replay,
    redis_url: str,
    prefix: str,
    events_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replay(events_file, until=UNTIL)
    client = redis.Redis.from_url(redis_url)
    layout = KeyLayout(prefix)

    code, out = _cli(
        capsys, "privacy", "delete", "c1", "--redis-url", redis_url, "--prefix", prefix
    )

    assert code == 0
    summary = json.loads(out)
    assert summary["states_deleted"] >= 1
    assert summary["aliases_deleted"] == 1
    assert summary["timer_entries_deleted"] >= 1
    assert summary["triggers_deleted"] >= 2
    assert summary["tombstones_added"] == 2, "c1 and anon:v1"
    assert client.get(layout.contact("c1")) is None
    assert client.get(layout.alias("anon:v1")) is None
    members = client.smembers(f"{prefix}:tombstones")
    assert members == {tombstone_id(prefix, k).encode() for k in ("c1", "anon:v1")}
    assert not members & {b"c1", b"anon:v1"}, "never the raw id"
    code, _ = _cli(capsys, "privacy", "export", "c1", "--redis-url", redis_url, "--prefix", prefix)
    assert code == 1, "nothing held any more"

    # The same events again (another file, so not recognised as already read): c1 and
    # its anonymous id stay deleted, and every one of their events is counted.
    again = tmp_path / "again.jsonl"
    shutil.copy(events_file, again)
    triggers = replay(again, until="2026-01-06T12:00:00Z")

    assert not [t for t in triggers if t.contact_id in ("c1", "anon:v1")]
    assert client.get(layout.contact("c1")) is None
    assert client.get(layout.contact("anon:v1")) is None
    assert client.get(layout.alias("anon:v1")) is None
    assert int(client.hget(layout.stats, "tombstoned")) == 3
    assert client.get(layout.contact("c2")) is not None, "others are untouched"


def test_deleting_an_unknown_contact_deletes_nothing_but_still_tombstones_it(
    redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _cli(
        capsys, "privacy", "delete", "c9", "--redis-url", redis_url, "--prefix", prefix
    )

    summary = json.loads(out)
    assert code == 0
    assert summary["states_deleted"] == summary["triggers_deleted"] == 0
    assert summary["tombstones_added"] == 1
