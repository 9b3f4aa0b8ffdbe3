"""Sorting input files by event time (`pulse replay --sort`, `pulse run --sort`).

Sources hold events until the watermark passes them, so input far out of
event-time order (a file sorted by contact, say) arrives late; sorting it first
gives the triggers of the live stream.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from pulse.connectors.files import GZIP_ERRORS, open_input
from pulse.errors import ConnectorError, EventError
from pulse.events import parse_ts

__all__ = ["MAX_SORT_BYTES", "sort_by_event_time"]

MAX_SORT_BYTES = 1 << 30
"""Largest input (decompressed) `sort_by_event_time` sorts; it sorts in memory."""


class _Ts(msgspec.Struct):
    ts: str | int


def sort_by_event_time(paths: list[str], out: Path, max_bytes: int = MAX_SORT_BYTES) -> int:
    """Write the lines of `paths` to `out` in event-time order; returns how many lines.

    A stable sort in memory: events of equal time keep their input order, and the
    same input always gives the same file (so a resumed run finds its byte offset
    again). Lines whose `ts` cannot be read come first, in input order: the flow
    dead-letters them with the reason. Input larger than `max_bytes` is refused.
    """
    decoder = msgspec.json.Decoder(_Ts)
    keyed: list[tuple[int, bytes]] = []
    size = 0
    for path in paths:
        file, _ = open_input(path)
        with file:
            try:
                for line in file:
                    size += len(line)
                    if size > max_bytes:
                        raise ConnectorError(
                            f"input is over {max_bytes} bytes, more than `--sort` sorts in "
                            "memory; sort it by `ts` beforehand, or split it by time"
                        )
                    if line.strip():
                        keyed.append((_sort_key(decoder, line), line.rstrip(b"\r\n") + b"\n"))
            except GZIP_ERRORS as exc:
                raise ConnectorError(f"cannot read input `{path}` to sort it: {exc}") from exc
    keyed.sort(key=lambda item: item[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as sink:
        sink.writelines(line for _, line in keyed)
    return len(keyed)


def _sort_key(decoder: msgspec.json.Decoder[_Ts], line: bytes) -> int:
    """The line's event time in ms; lines without a readable one sort first."""
    try:
        return parse_ts(decoder.decode(line).ts)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, EventError):
        return -1
