"""Hot reload: a running flow picks up a new version of its rules file between batches.

`RulesWatcher.poll` is called by the batch step before each batch. At most once
per `poll_s` (or at once after SIGHUP) it looks at the file's size, mtime and
inode; when they changed it reads the file, and a new text that passes every
check becomes the current rules. The engine swaps its `Journey` before the
next batch, so a batch is applied entirely under one version: no event is
lost or applied twice across a swap, contact state carries over, and every
trigger carries the `rules_version` it fired under.

A version that fails the checks (a file past the bounds of `pulse.rules.bounds`
or not UTF-8 included) is refused and logged with every problem; the old rules
keep running and the refused text is not re-checked until the file
changes again. A change to `allowed_lateness`, `event_types` or `model` is
refused too: the sources and the model are built from them at start-up, so they
need a restart.

What carries over, by name: pending timers of a trigger that is renamed or
removed are dropped when they come due; points held under a removed rule
decay away as before.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pulse.errors import RuleError
from pulse.rules import Rules, check_rules, read_rules_text

__all__ = ["RESTART_FIELDS", "RulesWatcher", "log_reloads_to_stderr"]

log = logging.getLogger(__name__)

RESTART_FIELDS = ("allowed_lateness_ms", "event_types", "model")
"""Fields a running flow cannot change: a new value needs a restart."""


class RulesWatcher:
    """Offers the newest valid version of a rules file; thread-safe, cheap to poll.

    `poll_s` is how often the file is looked at; 0 means only after `request()`
    (which the SIGHUP handler calls).
    """

    def __init__(
        self,
        path: str | Path,
        rules: Rules,
        *,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.rules = rules
        self.poll_s = poll_s
        self.reloads = 0
        self.refusals = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._is_requested = False
        self._next_look = clock() + poll_s
        self._signature = self._stat()
        self._last_text: str | None = None

    def request(self) -> None:
        """Look at the file at the next poll, whatever its mtime says (SIGHUP)."""
        self._is_requested = True

    def poll(self) -> Rules:
        """The rules to apply to the next batch: the current ones, or a new valid version."""
        if not self._is_requested and (self.poll_s <= 0 or self._clock() < self._next_look):
            return self.rules
        with self._lock:
            is_requested, self._is_requested = self._is_requested, False
            self._next_look = self._clock() + self.poll_s
            signature = self._stat()
            if signature == self._signature and not is_requested:
                return self.rules
            self._signature = signature
            self._consider()
            return self.rules

    def install_sighup(self) -> bool:
        """Make SIGHUP request a reload; only possible from the main thread."""
        if threading.current_thread() is not threading.main_thread() or not hasattr(
            signal, "SIGHUP"
        ):
            return False

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self.request()

        signal.signal(signal.SIGHUP, on_hup)
        return True

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _consider(self) -> None:
        try:
            text = read_rules_text(self.path)
        except RuleError as exc:
            self.refusals += 1
            log.error("rules reload refused: %s; keeping version %s",
                      "; ".join(exc.problems), self.rules.version)  # fmt: skip
            return
        if text == self._last_text:
            return  # refused before and unchanged since
        self._last_text = text
        try:
            check = check_rules(text, str(self.path))
        except Exception:
            # `check_rules` refuses every bad file with a message; should a bug still
            # raise, the running flow must not die of it: refuse loudly, keep going.
            self.refusals += 1
            log.exception("rules reload refused: checking `%s` failed; keeping version %s",
                          self.path, self.rules.version)  # fmt: skip
            return
        new = check.rules
        if new is None:
            self.refusals += 1
            log.error(
                "rules reload refused: `%s` has %d problem(s); keeping version %s\n%s",
                self.path, len(check.problems), self.rules.version, "\n".join(check.problems),
            )  # fmt: skip
            return
        if new.version == self.rules.version:
            return
        changed = [f for f in RESTART_FIELDS if getattr(new, f) != getattr(self.rules, f)]
        if changed:
            self.refusals += 1
            log.error(
                "rules reload refused: version %s changes %s, which need a restart; "
                "keeping version %s", new.version, ", ".join(f"`{f}`" for f in changed),
                self.rules.version,
            )  # fmt: skip
            return
        log.info(
            "rules reloaded: version %s -> %s (%s)", self.rules.version, new.version, self.path
        )
        for warning in new.warnings:
            log.warning("%s", warning)
        self.rules = new
        self.reloads += 1


def log_reloads_to_stderr() -> None:
    """Show reloads and refusals on standard error (what `pulse run` does)."""
    if any(isinstance(h, logging.StreamHandler) for h in log.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pulse: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
