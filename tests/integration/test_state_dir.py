"""A run's state kept without a Redis URL, read back by `pulse explain` (#16 items 3-5).

`pulse run`/`replay` without a Redis URL keep their state in `--state-dir` (default
`.pulse/last-run`, emptied at the start of each run); `explain` (and its old name
`inspect`) starts a private redis-server on that directory itself.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pulse.cli import main
from pulse.redis_server import LAST_RUN_DIR
from pulse.rules import default_rules_path

T0 = "2026-01-05T10:00:00Z"
EVENTS = [
    {"event_id": "a1", "type": "add_to_cart", "ts": T0, "contact_id": "c2",
     "props": {"product_id": "p1", "price": 20.0}},
    # An anonymous visitor's cart: the trigger's key is `anon:v9`, the file says `v9`.
    {"event_id": "a2", "type": "add_to_cart", "ts": T0, "anonymous_id": "v9",
     "props": {"product_id": "p1", "price": 30.0}},
    # An order: `post_purchase` is armed by the order id, not by an event id.
    {"event_id": "o1", "type": "purchase", "ts": "2026-01-05T10:05:00Z", "contact_id": "c3",
     "props": {"order_id": "order-77", "revenue": 50.0}},
]  # fmt: skip


@pytest.fixture(autouse=True)
def no_redis_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PULSE_REDIS_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # `.pulse/last-run` lands here


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    return path


def replay(events: Path, *extra: str) -> int:
    return main(["replay", str(events), "--dead-letters", "dead.jsonl", *extra])


def explain_json(*args: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["explain", *args, "--json"]) == 0
    data: dict[str, object] = orjson.loads(capsys.readouterr().out)
    return data


def test_explain_reads_what_a_replay_kept_in_its_state_dir(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert replay(events_file, "--state-dir", str(state), "--until", "+1h") == 0
    err = capsys.readouterr().err
    assert f"state kept under prefix `pulse` in {state}" in err
    x = explain_json("c2", "--state-dir", str(state), capsys=capsys)
    (lineage,) = x["triggers"]  # type: ignore[misc]
    assert lineage["trigger"]["trigger"] == "abandon_cart"
    assert x["counts"] == {"add_to_cart": {"1h": 1, "24h": 1, "7d": 1, "30d": 1}}


def test_explain_and_inspect_find_the_last_run_without_options(
    events_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(events_file) == 0
    assert (LAST_RUN_DIR / "appendonlydir").is_dir()
    assert explain_json("c2", capsys=capsys)["contact"] == "c2"
    assert main(["inspect", "c2"]) == 0
    assert "score, part by part" in capsys.readouterr().out


def test_the_default_state_dir_starts_empty_each_run(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(events_file) == 0
    other = tmp_path / "other.jsonl"
    other.write_bytes(orjson.dumps({**EVENTS[0], "event_id": "z", "contact_id": "c9"}) + b"\n")
    assert replay(other) == 0
    capsys.readouterr()
    assert main(["explain", "c2"]) == 1
    assert "no state for contact `c2`" in capsys.readouterr().err


def test_explain_without_kept_state_says_where_it_looked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "c2"]) == 2
    assert "no kept state in `.pulse/last-run`" in capsys.readouterr().err


def test_events_file_finds_anonymous_ids_and_order_ids(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    assert replay(events_file, "--state-dir", state, "--until", "+4d") == 0
    anon = explain_json("anon:v9", "--state-dir", state, "--events", str(events_file),
                        capsys=capsys)  # fmt: skip
    (cart,) = [t for t in anon["triggers"] if t["trigger"]["trigger"] == "abandon_cart"]  # type: ignore[attr-defined]
    assert [e["event_id"] for e in cart["events"]] == ["a2"]
    buyer = explain_json("c3", "--state-dir", state, "--events", str(events_file),
                         capsys=capsys)  # fmt: skip
    (post,) = [t for t in buyer["triggers"] if t["trigger"]["trigger"] == "post_purchase"]  # type: ignore[attr-defined]
    assert post["trigger"]["reason"]["armed_by"] == "order-77"
    assert [e["event_id"] for e in post["events"]] == ["o1"]


def test_trigger_shows_the_model_part_it_fired_with(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    assert replay(events_file, "--state-dir", state, "--until", "+1h") == 0
    x = explain_json("c2", "--state-dir", state, capsys=capsys)
    (lineage,) = x["triggers"]  # type: ignore[misc]
    reason = lineage["trigger"]["reason"]
    assert lineage["points_then"] == reason["points"]
    assert lineage["model_points_then"] == reason["model_points"]


def test_times_accept_epoch_ms_and_relative_and_errors_name_the_flag(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    # 10:00 + 30m: c2's cart is abandoned at 10:30, before an epoch-ms `--until` of 10:31.
    assert replay(events_file, "--state-dir", state, "--until", "1767609060000") == 0
    at = explain_json("c2", "--state-dir", state, "--at", "+1d", capsys=capsys)["at"]
    assert at == "2026-01-06T10:00:00.000Z"  # a day after c2's last event
    with pytest.raises(SystemExit):
        main(["explain", "c2", "--state-dir", state, "--at", "yesterday"])
    assert "argument --at: Expected ISO-8601, epoch ms" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        replay(events_file, "--until", "soon")
    assert "argument --until:" in capsys.readouterr().err


def test_compare_keep_keys_without_a_redis_url_keeps_both_sides_in_the_state_dir(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new.yaml"
    new.write_text(default_rules_path().read_text().replace("after: 30m", "after: 45m"))
    state = str(tmp_path / "state")
    args = ["--rules", str(new), "--compare", str(default_rules_path()), "--keep-keys",
            "--state-dir", state, "--until", "+1h", "--json", "cmp.json"]  # fmt: skip
    assert replay(events_file, *args) == 0
    err = capsys.readouterr().err
    after = orjson.loads(Path("cmp.json").read_bytes())["after"]["prefix"]
    assert f"state kept under prefix `{after}` in {state}" in err
    assert explain_json("c2", "--state-dir", state, "--prefix", after, capsys=capsys)["triggers"]
