"""`pulse run --dashboard`, read by a real headless Chromium (Debian's `chromium`).

The live run serves the page; Chromium loads it (its scripts draw the inlined
data), dumps the DOM and takes a screenshot. The binary is `chromium` on the
path or `PULSE_CHROMIUM`; `make unit` installs Debian's when it is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse.connectors.generator import GeneratorConfig, generate_lines
from pulse.redis_server import free_port

pytestmark = pytest.mark.integration

STARTUP_S = 90.0
"""How long the run may take to fire its first triggers (not measured)."""


@pytest.fixture(scope="session")
def chromium() -> str:
    binary = os.environ.get("PULSE_CHROMIUM") or shutil.which("chromium")
    if not binary:
        pytest.fail("chromium not found: `make unit` installs it (apt-get install chromium)")
    return binary


def browse(chromium: str, profile: Path, *args: str) -> str:
    """Run headless Chromium with `args` (no network beyond the page, a fresh profile)."""
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode()


@pytest.fixture
def dashboard(redis_url: str, prefix: str, tmp_path: Path) -> Iterator[str]:
    """A live run with `--dashboard`; yields the page's address once triggers fired."""
    events = tmp_path / "events.jsonl"
    with events.open("wb") as out:
        for line in generate_lines(GeneratorConfig(contacts=300, events=4_000)):
            out.write(line + b"\n")
    port = free_port()
    log = tmp_path / "run.log"
    command = [
        sys.executable, "-m", "pulse.cli", "run", "--live", "-i", str(events), "--quiet",
        "--dashboard", "--metrics-port", str(port), "--redis-url", redis_url,
        "--prefix", prefix, "--dead-letters", str(tmp_path / "dead.jsonl"),
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + STARTUP_S
        while f"live page at {url}" not in log.read_text() or b'"count"' not in _get(url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no trigger on the page\n{log.read_text()}"
            time.sleep(0.3)
        yield url
    finally:
        process.kill()
        process.wait()


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url + "api/summary", timeout=5) as response:
            body: bytes = response.read()
            return body
    except OSError:
        return b""


def test_dashboard_page_needs_nothing_from_the_network(dashboard: str) -> None:
    with urllib.request.urlopen(dashboard, timeout=5) as response:
        page = response.read().decode()
    assert not re.search(r"""(src|href)\s*=""", page)
    assert "@import" not in page and "url(" not in page
    assert re.findall(r"fetch\(\"([^\"]+)\"", page) == ["api/summary"]


def test_dashboard_in_chromium_shows_non_zero_trigger_counts(
    dashboard: str, chromium: str, tmp_path: Path
) -> None:
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", dashboard)
    totals = {k: int(v) for k, v in re.findall(r'data-trigger="(\w+)" data-total="(\d+)"', dom)}
    assert totals, dom
    assert sum(totals.values()) > 0
    assert "welcome" in totals
    assert re.search(r"<rect [^>]*class=\"(sent|deferred|suppressed|held_out)\"", dom)
    assert "awareness" in dom  # the stage funnel

    shot = tmp_path / "dashboard.png"
    browse(
        chromium, tmp_path / "profile", "--window-size=1280,900", f"--screenshot={shot}", dashboard
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
