"""`pulse suppress`: a listed contact's triggers are written, suppressed, with the reason."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from pulse import guardrails
from pulse.cli import main
from pulse.contact import ContactState
from pulse.rules import Guardrails


def _write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return path


def _suppress(redis_url: str, prefix: str, *args: str) -> None:
    assert main(["suppress", *args, "--redis-url", redis_url, "--prefix", prefix]) == 0


def test_suppressed_contact_gets_suppression_list_and_is_sent_again_once_removed(
    replay, redis_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _suppress(redis_url, prefix, "add", "--channel", "email", "c1")
    signup = [
        {"event_id": "s1", "type": "signup", "ts": "2026-01-05T10:00:00Z", "contact_id": "c1"},
        {"event_id": "s2", "type": "signup", "ts": "2026-01-05T10:00:00Z", "contact_id": "c2"},
    ]
    first = replay(_write(tmp_path / "signup.jsonl", signup), until="2026-01-05T10:05:00Z")

    decisions = {t.contact_id: (t.decision, t.suppressed_reason) for t in first}
    assert decisions == {"c1": ("suppressed", "suppression_list"), "c2": ("sent", None)}
    stats = redis.Redis.from_url(redis_url).hgetall(f"{prefix}:stats")
    assert stats[b"decision:suppressed:suppression_list"] == b"1", "counted, not dropped"

    capsys.readouterr()
    assert main(["suppress", "list", "--redis-url", redis_url, "--prefix", prefix]) == 0
    assert capsys.readouterr().out == "c1\temail\n"
    _suppress(redis_url, prefix, "remove", "--channel", "email", "c1")
    views = [
        {"event_id": f"v{i}", "type": "product_view", "ts": f"2026-01-05T11:0{i}:00Z",
         "contact_id": "c1", "props": {"product_id": "p1", "price": 10.0}}
        for i in range(3)
    ]  # fmt: skip
    second = replay(_write(tmp_path / "views.jsonl", views), until="2026-01-05T12:30:00Z")

    browse = [t for t in second if t.trigger == "browse_abandon"]
    assert [(t.contact_id, t.decision, t.suppressed_reason) for t in browse] == [
        ("c1", "sent", None)
    ]
    capsys.readouterr()
    assert main(["suppress", "list", "--redis-url", redis_url, "--prefix", prefix]) == 0
    assert capsys.readouterr().out == "", "the list is empty again"


def test_suppression_on_one_channel_leaves_the_others_and_all_blocks_every_one() -> None:
    rules = Guardrails()
    state = ContactState()

    def reason(channel: str | None) -> str | None:
        return guardrails.decide(state, "c1", "welcome", channel, 0, rules).reason

    token = guardrails.SUPPRESSED.set({"c1": frozenset({"sms"})})
    try:
        assert reason("sms") == "suppression_list"
        assert reason("email") is None
        guardrails.SUPPRESSED.set({"c1": frozenset({"all"})})
        assert reason("email") == reason("crm") == reason(None) == "suppression_list"
    finally:
        guardrails.SUPPRESSED.reset(token)
    assert reason("email") is None, "outside a batch nothing is suppressed"


def test_add_and_remove_edit_channels_one_by_one(
    redis_url: str, prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _suppress(redis_url, prefix, "add", "--channel", "sms", "--channel", "email", "c1", "c2")
    _suppress(redis_url, prefix, "remove", "--channel", "sms", "c1")
    _suppress(redis_url, prefix, "add", "c3")
    _suppress(redis_url, prefix, "remove", "c2")
    capsys.readouterr()

    assert main(["suppress", "list", "--json", "--redis-url", redis_url, "--prefix", prefix]) == 0

    assert orjson.loads(capsys.readouterr().out) == {"c1": ["email"], "c3": ["all"]}
