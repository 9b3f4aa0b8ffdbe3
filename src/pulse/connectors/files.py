"""JSON Lines sources: files (resumable by byte offset) and standard input.

Each source partition reads up to `batch_size` lines per batch, decodes them
at the edge, tracks its watermark, and emits one `SourceBatch`. A line that
does not decode becomes a `Rejected` naming the file and line; the flow goes on.

Gzip input (a file or standard input starting with the gzip magic bytes,
whatever its name) is decompressed as it is read; its byte offsets, in dead
letters and in the resume snapshot, count the decompressed stream, and resuming
decompresses the file again up to the offset. Corrupt or truncated gzip data
becomes one dead letter for the rest of that file.

Input that is not in event-time order (a file sorted by contact, say) is
detected: when a large share of events arrive more than the allowed lateness
behind the newest event time, the partition logs one warning saying how to sort
the input. `pulse.connectors.sort` sorts such input (`pulse replay --sort`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import queue
import sys
import threading
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from pulse.batch import SourceBatch
from pulse.config import Part
from pulse.connectors.formats import FormatDecoder
from pulse.errors import ConnectorError, EventError
from pulse.events import Event, EventDecoder, Rejected
from pulse.identity import part_takes
from pulse.watermark import Watermark

__all__ = [
    "FILES_PARTITION",
    "GZIP_ERRORS",
    "GZIP_MAGIC",
    "STDIN",
    "STDIN_PARTITION",
    "BatchBuilder",
    "JsonlSource",
    "file_stream_id",
    "open_input",
    "part_name",
]

log = logging.getLogger("pulse.input")

STDIN = "-"
FILES_PARTITION = "files"
"""The partition (and timer index) name of file input, whatever the files are called."""
STDIN_PARTITION = "stdin"
GZIP_MAGIC = b"\x1f\x8b"
"""The first two bytes of gzip data: such input is decompressed, whatever its name."""
_DEAD_LETTER_RAW_BYTES = 65_536
_IDLE_S = 0.1
_DISORDER_MIN_EVENTS = 100
_DISORDER_SHARE = 0.1
"""Warn once this share of a partition's events arrived behind its watermark."""
GZIP_ERRORS = (OSError, EOFError, zlib.error)


MAX_HEADER_BYTES = 1 << 16
"""The longest CSV header row looked at (a Snowplow export's is about 3 KiB)."""


class BatchBuilder:
    """Decodes raw lines into one `SourceBatch`, keeping the watermark current.

    It also counts events that arrive behind the watermark (more than the allowed
    lateness before the newest event time) and, the first time they are a large
    share, logs one warning ending with `disorder_hint`: what to do about it.

    With a `part` (one of several worker processes), events of other parts' contacts
    only move the watermark, so every part's watermark is the one a single process
    would have; dead letters belong to no contact and are kept by part 0 only.
    """

    def __init__(
        self,
        partition: str,
        decoder: EventDecoder,
        watermark: Watermark,
        disorder_hint: str = "",
        part: Part | None = None,
    ) -> None:
        self.partition = partition
        self.decoder = decoder
        self.watermark = watermark
        self.disorder_hint = disorder_hint
        self.part = part
        self._keeps_rejected = part is None or part.index == 0
        # Vendor layouts (`pulse.connectors.formats`); pulse's own JSON keeps its path.
        self._vendor = decoder.decode_vendor if isinstance(decoder, FormatDecoder) else None
        self._is_pulse_first = not isinstance(decoder, FormatDecoder) or decoder.is_pulse_first
        self.events_seen = 0
        self.events_behind = 0
        self.stream = ""
        """The position stream records come from now (a file's identity; "" for none)."""
        self._read_to: dict[str, int] = {}
        self._has_warned = False
        self._batch = self._new()

    def _new(self) -> SourceBatch:
        return SourceBatch(partition=self.partition, watermark_ms=self.watermark.current_ms)

    def add(self, raw: bytes, where: str, offset: int) -> None:
        """Decode one raw record; a bad one becomes a dead letter."""
        self._read_to[self.stream] = offset + 1
        vendor = self._vendor
        try:
            if vendor is None or self._is_pulse_first:
                try:
                    event = self.decoder.decode(raw)
                except EventError as exc:
                    if vendor is None:
                        raise
                    events = vendor(raw, exc)  # not pulse's own JSON: a vendor layout?
                else:
                    self._keep(event, offset)
                    return
            else:
                events = vendor(raw)
        except EventError as exc:
            if self._keeps_rejected:
                self._batch.rejected.append(_rejected(str(exc), raw, where, offset))
            return
        for event in events:  # all read at `offset`: one line, one position
            self._keep(event, offset)

    def _keep(self, event: Event, offset: int) -> None:
        self.events_seen += 1
        if event.ts_ms < self.watermark.current_ms:
            self.events_behind += 1
        part = self.part
        if part is None or part_takes(
            part, event.type, event.key, event.contact_id, event.anonymous_id
        ):
            self.watermark.hold(event, self.stream, offset)
        else:
            self.watermark.observe(event.ts_ms)

    def reject(self, reason: str, raw: bytes, where: str, offset: int) -> None:
        """Record input refused before decoding (an oversized line)."""
        self._read_to[self.stream] = offset + 1
        if self._keeps_rejected:
            self._batch.rejected.append(_rejected(reason, raw, where, offset))

    def take(self) -> SourceBatch:
        """The batch so far, with the current watermark; starts a new one."""
        batch = self._batch
        batch.take_released(self.watermark.release())
        batch.watermark_ms = self.watermark.current_ms
        batch.released_before_ms = self.watermark.released_before_ms
        batch.read_to = dict(self._read_to)  # every stream: the end of input moves them all
        self._batch = self._new()
        if not self._has_warned and self.events_seen >= _DISORDER_MIN_EVENTS:
            self._warn_if_disordered()
        return batch

    def _warn_if_disordered(self) -> None:
        if self.events_behind < _DISORDER_SHARE * self.events_seen:
            return
        self._has_warned = True
        lateness_s = self.watermark.lateness_ms / 1000
        log.warning(
            "%s: %d of %d events so far arrived more than the allowed lateness (%gs) "
            "behind the newest event time: the input is not in event-time order. Such "
            "events are applied late, after timers they should have cancelled may have "
            "fired. %s",
            self.partition, self.events_behind, self.events_seen, lateness_s,
            self.disorder_hint,
        )  # fmt: skip


def _rejected(reason: str, raw: bytes, where: str, offset: int) -> Rejected:
    text = raw[:_DEAD_LETTER_RAW_BYTES].decode("utf-8", errors="replace")
    if len(raw) > _DEAD_LETTER_RAW_BYTES:
        text += f"... [truncated: {len(raw)} bytes in all]"
    return Rejected(reason=reason, raw=text, source=where, offset=offset)


class _Resume:
    """What the files partition snapshots: which file, where in it, and the watermark."""

    def __init__(self, offset: int, line: int, watermark: Watermark, file_index: int = 0) -> None:
        self.offset = offset
        self.line = line
        self.watermark = watermark
        self.file_index = file_index


class _FilePartition(StatefulSourcePartition[SourceBatch, _Resume]):
    """The input files, read one after the other as one partition.

    One partition, not one per file: a contact's events may be spread over several
    files (yesterday's, today's), and its state and timers must have one owner.
    Parallel input is what Kafka partitions are for.
    """

    def __init__(self, paths: list[str], resume: _Resume, source: JsonlSource) -> None:
        self._source = source
        self._paths = paths
        self._index = resume.file_index
        hint = (
            "Sort the input by event time: `pulse replay --sort FILE` or "
            "`pulse run --sort -i FILE` (see the README, Event format)."
        )
        partition = part_name(FILES_PARTITION, source.part)
        self._builder = BatchBuilder(partition, source.decoder, resume.watermark, hint, source.part)
        self._is_done = False
        self._awake: datetime | None = None
        self._open(resume.offset, resume.line)

    def _open(self, offset: int, line: int) -> None:
        self._path = self._paths[self._index]
        self._builder.stream = part_name(file_stream_id(self._path), self._source.part, "@")
        self._file, self._is_gzip = open_input(self._path)
        self._is_broken = False
        self._offset = offset
        self._line = line
        try:
            self._note_header(offset)
            self._file.seek(offset)
        except GZIP_ERRORS as exc:
            self._broken(exc)

    def _note_header(self, offset: int) -> None:
        """A CSV export's header row gives the columns of every row after it: read it
        even when resuming mid-file (`FormatDecoder.note_header`), and say so once."""
        decoder = self._source.decoder
        if not isinstance(decoder, FormatDecoder):
            return
        first = self._file.readline(MAX_HEADER_BYTES)
        if decoder.note_header(first):
            columns = len(decoder.csv_columns or ())
            log.info("%s: a Snowplow CSV export (%d columns in its header)", self._path, columns)
        if offset == 0:
            self._file.seek(0)

    def _readline(self, limit: int) -> bytes:
        """The next line (up to `limit` bytes); b"" at the end or past corrupt gzip data."""
        if self._is_broken:
            return b""
        try:
            return self._file.readline(limit)
        except GZIP_ERRORS as exc:
            if not self._is_gzip:
                raise ConnectorError(f"cannot read input `{self._path}`: {exc}") from exc
            self._broken(exc)
            return b""

    def _broken(self, exc: BaseException) -> None:
        """Corrupt or truncated gzip data: one dead letter, and the rest of the file is skipped."""
        self._is_broken = True
        reason = (
            f"gzip data of `{self._path}` is corrupt or truncated ({exc}) after byte "
            f"{self._offset} of the decompressed stream: the rest of the file is unread"
        )
        self._builder.reject(reason, b"", f"{self._path}:{self._line + 1}", self._offset)

    def next_batch(self) -> list[SourceBatch]:
        if self._is_done:
            raise StopIteration
        limit = self._source.max_line_bytes
        for _ in range(self._source.batch_size):
            line = self._readline(limit + 1)
            if not line:
                if self._index + 1 < len(self._paths):
                    self._file.close()
                    self._index += 1
                    self._open(0, 0)
                    continue
                return self._at_end()
            start, self._line = self._offset, self._line + 1
            if len(line) > limit and not line.endswith(b"\n"):
                size = len(line) + self._skip_rest_of_line()
                self._offset = start + size
                reason = f"event is {size} bytes, over the {limit} byte limit"
                self._builder.reject(reason, line[:1024], f"{self._path}:{self._line}", start)
                continue
            self._offset += len(line)
            raw = line.strip()
            if raw:
                self._builder.add(raw, f"{self._path}:{self._line}", start)
        self._awake = None
        return [self._builder.take()]

    def _skip_rest_of_line(self) -> int:
        skipped = 0
        while chunk := self._readline(1 << 20):
            skipped += len(chunk)
            if chunk.endswith(b"\n"):
                break
        return skipped

    def _at_end(self) -> list[SourceBatch]:
        if self._source.is_live:
            self._builder.watermark.idle()
            self._awake = datetime.now(UTC) + timedelta(seconds=_IDLE_S)
            return [self._builder.take()]
        self._is_done = True
        self._builder.watermark.finish()
        final = self._source.final_watermark_ms
        if final is not None and final > self._builder.watermark.current_ms:
            self._builder.watermark.max_ts_ms = final + self._builder.watermark.lateness_ms
        return [self._builder.take()]

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> _Resume:
        return _Resume(self._offset, self._line, self._builder.watermark, self._index)

    def close(self) -> None:
        self._file.close()


class _StdinPartition(StatefulSourcePartition[SourceBatch, None]):
    """Standard input, read by a thread so an idle pipe never blocks the flow."""

    def __init__(self, source: JsonlSource) -> None:
        self._source = source
        self._lines: queue.Queue[bytes | ConnectorError | None] = queue.Queue(
            maxsize=source.batch_size * 10
        )
        hint = "Sort the input by event time before piping it in, or replay a file with `--sort`."
        watermark = Watermark(source.lateness_ms)
        self._builder = BatchBuilder(STDIN_PARTITION, source.decoder, watermark, hint)
        self._line = 0
        self._is_done = False
        self._awake: datetime | None = None
        threading.Thread(target=self._read, name="pulse-stdin", daemon=True).start()

    def _read(self) -> None:
        stream: IO[bytes] | gzip.GzipFile = sys.stdin.buffer
        try:
            if isinstance(stream, io.BufferedReader) and stream.peek(2)[:2] == GZIP_MAGIC:
                stream = gzip.GzipFile(fileobj=stream, mode="rb")
            for line in stream:
                self._lines.put(line)
        except GZIP_ERRORS as exc:
            self._lines.put(ConnectorError(f"standard input is corrupt or truncated gzip: {exc}"))
        self._lines.put(None)

    def next_batch(self) -> list[SourceBatch]:
        if self._is_done:
            raise StopIteration
        got = 0
        limit = self._source.max_line_bytes
        while got < self._source.batch_size:
            try:
                line = self._lines.get(timeout=0.05 if got == 0 else 0)
            except queue.Empty:
                break
            if line is None:
                self._is_done = True
                self._builder.watermark.finish()  # release the events still held
                break
            if isinstance(line, ConnectorError):
                self._builder.reject(str(line), b"", f"<stdin>:{self._line + 1}", self._line)
                continue
            got += 1
            self._line += 1
            where = f"<stdin>:{self._line}"
            if len(line) > limit:
                reason = f"event is {len(line)} bytes, over the {limit} byte limit"
                self._builder.reject(reason, line[:1024], where, self._line)
            elif raw := line.strip():
                self._builder.add(raw, where, self._line)
        if got == 0 and not self._is_done:
            self._builder.watermark.idle()
            self._awake = datetime.now(UTC) + timedelta(seconds=_IDLE_S)
        else:
            self._awake = None
        return [self._builder.take()]

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> None:
        return None


class JsonlSource(FixedPartitionedSource[SourceBatch, object]):
    """JSON Lines from files (one partition each) or standard input (`-`)."""

    def __init__(
        self,
        paths: list[str],
        decoder: EventDecoder,
        lateness_ms: int,
        *,
        batch_size: int = 1000,
        is_live: bool = False,
        final_watermark_ms: int | None = None,
        max_line_bytes: int = 1 << 20,
        part: Part | None = None,
    ) -> None:
        self.paths = paths
        self.decoder = decoder
        self.lateness_ms = lateness_ms
        self.batch_size = batch_size
        self.is_live = is_live
        self.final_watermark_ms = final_watermark_ms
        self.max_line_bytes = max_line_bytes
        self.part = part
        if STDIN in paths and part is not None:
            raise ConnectorError("standard input (`-`) cannot be split over worker processes")
        if STDIN in paths and len(paths) > 1:
            raise ConnectorError("standard input (`-`) cannot be combined with input files")
        for path in paths:
            if path != STDIN and not Path(path).is_file():
                raise ConnectorError(f"input file `{path}` does not exist")

    def list_parts(self) -> list[str]:
        return (
            [STDIN_PARTITION] if self.paths == [STDIN] else [part_name(FILES_PARTITION, self.part)]
        )

    def build_part(
        self, step_id: str, for_part: str, resume_state: object | None
    ) -> StatefulSourcePartition[SourceBatch, object]:
        if for_part == STDIN_PARTITION:
            return _StdinPartition(self)  # type: ignore[return-value]
        resume = resume_state if isinstance(resume_state, _Resume) else None
        resume = resume or _Resume(0, 0, Watermark(self.lateness_ms))
        return _FilePartition(self.paths, resume, self)  # type: ignore[return-value]


def part_name(name: str, part: Part | None, separator: str = "/") -> str:
    """The name of a partition (or a position stream) as one part of several worker processes.

    Parts never share a timer index, a watermark or a committed position.

    >>> part_name("files", Part(1, 2)), part_name("files", None)
    ('files/1-of-2', 'files')
    """
    return name if part is None else f"{name}{separator}{part.name}"


def file_stream_id(path: str) -> str:
    """The position stream of an input file: its real path and a hash of its first line.

    Replaying the same file finds the positions it committed; another file at the same
    path (its first line differs) starts afresh. Appending to a file keeps its identity.
    """
    stream, _ = open_input(path)
    try:
        first = stream.readline(4096)
    except GZIP_ERRORS:
        first = b""
    finally:
        stream.close()
    digest = hashlib.blake2b(first, digest_size=8).hexdigest()
    return f"file:{os.path.realpath(path)}#{digest}"


def open_input(path: str) -> tuple[io.BufferedIOBase, bool]:
    """Open an input file for reading lines; gzip data (by its magic bytes) is decompressed.

    Returns the binary stream and whether it is gzip.
    """
    try:
        raw = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise ConnectorError(f"cannot open input `{path}`: {exc.strerror}") from exc
    if raw.read(2) != GZIP_MAGIC:
        raw.seek(0)
        return raw, False
    raw.close()
    return gzip.GzipFile(path, mode="rb"), True  # opened by name: it closes its own file
