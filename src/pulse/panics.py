"""Keep Rust's panic reports off standard error while the flow runs.

Bytewax turns an exception raised in a step, or a signal, into a Rust panic that
it catches and re-raises in Python as `BytewaxRuntimeError`; pulse translates that
into one message and an exit status (`pulse.report.run_flow`, `pulse.cli.main`).
But Rust's panic hook has already written `thread '<unnamed>' panicked at
src/operators.rs:198:33: Box<dyn Any>` (and, with `RUST_BACKTRACE`, a backtrace)
straight to file descriptor 2, where Python cannot intercept it.

`hide_rust_panics()` routes file descriptor 2 through a pipe for the duration of
the block; a thread copies every line to the real standard error except those
panic reports. With `PULSE_LOG_LEVEL=DEBUG` nothing is hidden.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

__all__ = ["hide_rust_panics", "is_panic_start"]

_END = b"note: "
"""Rust ends a panic report with a `note: run with RUST_BACKTRACE...` line."""


def is_panic_start(line: bytes) -> bool:
    """Whether `line` opens a Rust panic report.

    >>> is_panic_start(b"thread '<unnamed>' panicked at src/run.rs:133:25:\\n")
    True
    >>> is_panic_start(b"pulse: cannot reach Redis\\n")
    False
    """
    return line.startswith(b"thread '") and b"' panicked at " in line


@contextlib.contextmanager
def hide_rust_panics() -> Iterator[None]:
    """Within the block, Rust panic reports written to stderr are dropped; the rest passes."""
    if os.environ.get("PULSE_LOG_LEVEL", "").upper() == "DEBUG":
        yield
        return
    # A backtrace would end in a frame, not in the `note:` line the filter waits for.
    saved_backtrace = os.environ.get("RUST_BACKTRACE")
    os.environ["RUST_BACKTRACE"] = "0"
    sys.stderr.flush()
    real_stderr = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    copier = threading.Thread(
        target=_copy, args=(read_end, real_stderr), name="pulse-stderr", daemon=True
    )
    copier.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real_stderr, 2)  # closes the pipe's last write end: the copier sees EOF
        copier.join(timeout=5)
        os.close(real_stderr)
        if saved_backtrace is None:
            os.environ.pop("RUST_BACKTRACE", None)
        else:
            os.environ["RUST_BACKTRACE"] = saved_backtrace


def _copy(read_end: int, out: int) -> None:
    """Copy lines from `read_end` to `out`, dropping Rust panic reports."""
    in_panic = after_panic = False
    try:
        for line in _lines(read_end):
            if is_panic_start(line):
                in_panic = True
            elif in_panic:
                in_panic = not line.startswith(_END)
                after_panic = not in_panic
            elif after_panic and line == b"\n":
                after_panic = False  # the blank line bytewax prints after the report
            else:
                after_panic = False
                os.write(out, line)
    finally:
        os.close(read_end)


def _lines(read_end: int) -> Iterator[bytes]:
    """Lines as they arrive; a partial line is passed on at once unless it may open a panic."""
    pending = b""
    while chunk := os.read(read_end, 65536):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"
        if pending and not b"thread '".startswith(pending[:8]):
            yield pending
            pending = b""
    if pending:
        yield pending
