"""`pulse report`: the figures from Redis, in the terminal, as JSON and as an HTML page
that a real headless Chromium renders without fetching anything (#14 part 4)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import orjson
import pytest

from pulse.cli import main

pytestmark = pytest.mark.integration

START = "2026-01-05T10:00:00Z"
# `h2` falls in the default pack's 10 % holdout of `abandon_cart`, `h1` and `h3` do not.
EVENTS = [
    {"event_id": "e1", "type": "add_to_cart", "ts": "2026-01-05T10:00:00Z", "contact_id": "h1",
     "props": {"product_id": "p1", "price": 20.0}},
    {"event_id": "e2", "type": "add_to_cart", "ts": "2026-01-05T10:00:00Z", "contact_id": "h2",
     "props": {"product_id": "p1", "price": 30.0}},
    {"event_id": "e3", "type": "add_to_cart", "ts": "2026-01-05T10:00:00Z", "contact_id": "h3",
     "props": {"product_id": "p1", "price": 30.0}},
    {"event_id": "e4", "type": "purchase", "ts": "2026-01-06T10:00:00Z", "contact_id": "h1",
     "props": {"order_id": "o1", "revenue": 20.0}},
    {"event_id": "e5", "type": "purchase", "ts": "2026-01-07T10:00:00Z", "contact_id": "h2",
     "props": {"order_id": "o2", "revenue": 30.0}},
]  # fmt: skip


def _events(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    return path


def _report(redis_url: str, prefix: str, *extra: str) -> int:
    return main(["report", "--redis-url", redis_url, "--prefix", prefix, *extra])


def test_report_shows_lift_per_trigger_from_the_committed_aggregates(
    replay, redis_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay(_events(tmp_path), until="2026-01-15T00:00:00Z")
    capsys.readouterr()

    assert _report(redis_url, prefix, "--json") == 0
    (cart,) = [r for r in json.loads(capsys.readouterr().out)["lift"]
               if r["trigger"] == "abandon_cart"]  # fmt: skip
    assert (cart["sent"]["exposed"], cart["sent"]["converted"]) == (2, 1)
    assert (cart["held_out"]["exposed"], cart["held_out"]["converted"]) == (1, 1)
    assert cart["sent"]["revenue"] == 20.0 and cart["held_out"]["revenue"] == 30.0
    assert cart["lift"] == pytest.approx(-0.5)

    assert _report(redis_url, prefix) == 0
    terminal = capsys.readouterr().out
    assert "lift: conversions" in terminal and "abandon_cart" in terminal
    assert "-50.0 pp" in terminal


def test_replaying_twice_leaves_the_lift_aggregates_unchanged(
    replay, redis_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _events(tmp_path)
    replay(events, until="2026-01-15T00:00:00Z")
    capsys.readouterr()
    assert _report(redis_url, prefix, "--json") == 0
    first = json.loads(capsys.readouterr().out)

    assert replay(events, until="2026-01-15T00:00:00Z") == []
    assert _report(redis_url, prefix, "--json") == 0
    second = json.loads(capsys.readouterr().out)

    assert second["lift"] == first["lift"]
    assert any(r["sent"]["converted"] for r in first["lift"])


class _Page(HTMLParser):
    """What a page would fetch: every URL in an attribute, style or import."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "data", "poster", "action") and value:
                self.fetches.append(f"{tag}.{name}={value}")

    def handle_data(self, data: str) -> None:
        self.fetches += re.findall(r"url\(|@import", data)


def _chromium() -> str:
    found = os.environ.get("PULSE_CHROMIUM") or shutil.which("chromium")
    assert found, "chromium not found: `make chromium` installs it (or set PULSE_CHROMIUM)"
    return found


def _headless(html: Path, tmp_path: Path, *mode: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", *mode, html.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip


def _png_colours(png: bytes) -> int:
    """How many distinct byte values the decoded image data holds (a blank page: 1 or 2)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, data = 8, b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind = png[at + 4 : at + 8]
        if kind == b"IDAT":
            data += png[at + 8 : at + 8 + length]
        at += 12 + length
    return len(set(zlib.decompress(data)))


def test_html_report_renders_in_headless_chromium_without_fetching(
    replay, redis_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay(_events(tmp_path), until="2026-01-15T00:00:00Z")
    page = tmp_path / "report.html"

    assert _report(redis_url, prefix, "--html", str(page)) == 0

    parsed = _Page()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert parsed.fetches == []
    assert {"table", "svg", "style"} <= parsed.tags
    assert "<script" not in page.read_text(encoding="utf-8")
    shot = tmp_path / "report.png"
    _headless(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,900")
    assert shot.stat().st_size > 10_000
    assert _png_colours(shot.read_bytes()) > 50
    dom = _headless(page, tmp_path, "--dump-dom").stdout.decode()
    assert '<table id="lift">' in dom
    assert "abandon_cart" in dom and "-50.0 pp" in dom


def test_report_stage_flow_between_two_dates_from_the_stage_histories(
    replay, redis_url: str, prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replay(_events(tmp_path), until="2026-01-15T00:00:00Z")
    capsys.readouterr()

    # From before the first event to after the last: every contact is new, and ends
    # in the stage Redis counts it in.
    assert _report(redis_url, prefix, "--json", "--from", "2026-01-01T00:00:00Z",
                   "--to", "2026-01-20T00:00:00Z") == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["flow_between"] == ["2026-01-01T00:00:00.000Z", "2026-01-20T00:00:00.000Z"]
    ends: dict[str, int] = {}
    for move, n in data["stage_flow"].items():
        start, _, end = move.partition(" -> ")
        assert start == "(new)"
        ends[end] = ends.get(end, 0) + n
    assert ends == {s: n for s, n in data["stages"].items() if n}
    # Between h1's purchase (6 Jan) and h2's (7 Jan): only h2 moves on, into h1's stage;
    # h1 stays there and h3 stays where the cart left it.
    assert _report(redis_url, prefix, "--json", "--from", "2026-01-06T12:00:00Z",
                   "--to", "2026-01-07T12:00:00Z") == 0  # fmt: skip
    flow = json.loads(capsys.readouterr().out)["stage_flow"]
    assert sum(flow.values()) == 3
    moved = [m for m in flow if m.split(" -> ")[0] != m.split(" -> ")[1]]
    assert len(moved) == 1 and flow[moved[0]] == 1
    assert _report(redis_url, prefix, "--from", "2026-01-06T12:00:00Z") == 2  # --to missing
