"""`RulesWatcher`: when a new rules version is offered, refused, or left alone (no Redis)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pulse.reload import RulesWatcher
from pulse.rules import default_rules_path, load_rules

DEFAULT = default_rules_path().read_text()


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(DEFAULT)
    return path


def watcher_for(path: Path, clock: Clock, poll_s: float = 1.0) -> RulesWatcher:
    return RulesWatcher(path, load_rules(path), poll_s=poll_s, clock=clock)


def test_valid_new_version_is_offered_once_the_poll_interval_passed(rules_file: Path) -> None:
    clock = Clock()
    watcher = watcher_for(rules_file, clock)
    first = watcher.rules
    rules_file.write_text(DEFAULT.replace("after: 30m", "after: 45m"))
    assert watcher.poll() is first  # not looked at before the interval
    clock.now = 1.5
    new = watcher.poll()
    assert new.version != first.version and watcher.reloads == 1
    assert watcher.poll() is new


def test_invalid_version_is_refused_logged_and_the_old_rules_kept(
    rules_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    watcher = watcher_for(rules_file, clock)
    first = watcher.rules
    rules_file.write_text(DEFAULT.replace("after: 30m", "after: thirty"))
    clock.now = 2
    with caplog.at_level(logging.ERROR, logger="pulse.reload"):
        assert watcher.poll() is first
    assert watcher.refusals == 1
    assert "rules reload refused" in caplog.text and "thirty" in caplog.text
    assert first.version in caplog.text


def test_refused_text_is_not_checked_again_until_it_changes(rules_file: Path) -> None:
    clock = Clock()
    watcher = watcher_for(rules_file, clock)
    rules_file.write_text("scoring: [")
    clock.now = 2
    watcher.poll()
    watcher.request()
    watcher.poll()
    assert watcher.refusals == 1
    rules_file.write_text(DEFAULT.replace("threshold: 60", "threshold: 70"))
    clock.now = 4
    assert watcher.poll().version != load_rules(default_rules_path()).version


def test_change_that_needs_a_restart_is_refused(rules_file: Path) -> None:
    clock = Clock()
    watcher = watcher_for(rules_file, clock)
    first = watcher.rules
    rules_file.write_text(DEFAULT.replace("allowed_lateness: 5s", "allowed_lateness: 1m"))
    clock.now = 2
    assert watcher.poll() is first and watcher.refusals == 1


def test_request_reloads_even_when_polling_is_off(rules_file: Path) -> None:
    clock = Clock()
    watcher = watcher_for(rules_file, clock, poll_s=0)
    first = watcher.rules
    rules_file.write_text(DEFAULT.replace("threshold: 60", "threshold: 65"))
    clock.now = 1000
    assert watcher.poll() is first  # polling off: the file is not looked at
    watcher.request()
    assert watcher.poll().version != first.version


def test_missing_file_keeps_the_old_rules(rules_file: Path) -> None:
    clock = Clock()
    watcher = watcher_for(rules_file, clock)
    first = watcher.rules
    rules_file.unlink()
    clock.now = 2
    assert watcher.poll() is first


HOSTILE = {
    "nested 1,000 deep": ("scoring:\n  rules: " + "[" * 1000 + "]" * 1000 + "\n").encode(),
    "not UTF-8": DEFAULT.replace("name: default-ecommerce", "name: caf\xe9").encode("latin-1"),
    "costly CEL": DEFAULT.replace(
        'when: "double(props.price) >= 200.0"',
        'when: "[1, 2, 3].all(x, [1, 2, 3].exists(y, x == y))"',
    ).encode(),
    "not finite": DEFAULT.replace("total_cap: 200", "total_cap: .inf").encode(),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_hostile_version_is_refused_with_every_problem_and_the_old_rules_kept(
    rules_file: Path, caplog: pytest.LogCaptureFixture, hostile: str
) -> None:
    clock = Clock()
    watcher = watcher_for(rules_file, clock)
    first = watcher.rules
    rules_file.write_bytes(HOSTILE[hostile])
    clock.now = 2
    with caplog.at_level(logging.ERROR, logger="pulse.reload"):
        assert watcher.poll() is first
    assert watcher.refusals == 1 and watcher.reloads == 0
    assert (
        "rules reload refused" in caplog.text and f"keeping version {first.version}" in caplog.text
    )
    assert str(rules_file) in caplog.text and "(line " in caplog.text
    # The watcher goes on: a valid version after the hostile one is taken.
    rules_file.write_text(DEFAULT.replace("threshold: 60", "threshold: 70"))
    clock.now = 4
    assert watcher.poll().version != first.version and watcher.reloads == 1
