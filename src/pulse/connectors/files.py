"""JSON Lines sources: files (resumable by byte offset) and standard input.

Each source partition reads up to `batch_size` lines per batch, decodes them
at the edge, tracks its watermark, and emits one `SourceBatch`. A line that
does not decode becomes a `Rejected` naming the file and line; the flow goes on.
"""

from __future__ import annotations

import queue
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from pulse.engine import SourceBatch
from pulse.errors import ConnectorError, EventError
from pulse.events import EventDecoder, Rejected
from pulse.watermark import Watermark

__all__ = ["FILES_PARTITION", "STDIN", "STDIN_PARTITION", "BatchBuilder", "JsonlSource"]

STDIN = "-"
FILES_PARTITION = "files"
"""The partition (and timer index) name of file input, whatever the files are called."""
STDIN_PARTITION = "stdin"
_DEAD_LETTER_RAW_BYTES = 65_536
_IDLE_S = 0.1


class BatchBuilder:
    """Decodes raw lines into one `SourceBatch`, keeping the watermark current."""

    def __init__(self, partition: str, decoder: EventDecoder, watermark: Watermark) -> None:
        self.partition = partition
        self.decoder = decoder
        self.watermark = watermark
        self._batch = self._new()

    def _new(self) -> SourceBatch:
        return SourceBatch(partition=self.partition, watermark_ms=self.watermark.current_ms)

    def add(self, raw: bytes, where: str, offset: int) -> None:
        """Decode one raw record; a bad one becomes a dead letter."""
        try:
            event = self.decoder.decode(raw)
        except EventError as exc:
            self._batch.rejected.append(_rejected(str(exc), raw, where, offset))
            return
        self._batch.watermarks.append(self.watermark.observe(event.ts_ms))
        self._batch.events.append(event)

    def reject(self, reason: str, raw: bytes, where: str, offset: int) -> None:
        """Record input refused before decoding (an oversized line)."""
        self._batch.rejected.append(_rejected(reason, raw, where, offset))

    def take(self) -> SourceBatch:
        """The batch so far, with the current watermark; starts a new one."""
        batch = self._batch
        batch.watermark_ms = self.watermark.current_ms
        self._batch = self._new()
        return batch


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
        self._builder = BatchBuilder(FILES_PARTITION, source.decoder, resume.watermark)
        self._is_done = False
        self._awake: datetime | None = None
        self._open(resume.offset, resume.line)

    def _open(self, offset: int, line: int) -> None:
        self._path = self._paths[self._index]
        try:
            self._file: IO[bytes] = open(self._path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ConnectorError(f"cannot open input `{self._path}`: {exc.strerror}") from exc
        self._file.seek(offset)
        self._offset = offset
        self._line = line

    def next_batch(self) -> list[SourceBatch]:
        if self._is_done:
            raise StopIteration
        limit = self._source.max_line_bytes
        for _ in range(self._source.batch_size):
            line = self._file.readline(limit + 1)
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
        while chunk := self._file.readline(1 << 20):
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
        self._lines: queue.Queue[bytes | None] = queue.Queue(maxsize=source.batch_size * 10)
        self._builder = BatchBuilder(STDIN_PARTITION, source.decoder, Watermark(source.lateness_ms))
        self._line = 0
        self._is_done = False
        self._awake: datetime | None = None
        threading.Thread(target=self._read, name="pulse-stdin", daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin.buffer:
            self._lines.put(line)
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
                break
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
    ) -> None:
        self.paths = paths
        self.decoder = decoder
        self.lateness_ms = lateness_ms
        self.batch_size = batch_size
        self.is_live = is_live
        self.final_watermark_ms = final_watermark_ms
        self.max_line_bytes = max_line_bytes
        if STDIN in paths and len(paths) > 1:
            raise ConnectorError("standard input (`-`) cannot be combined with input files")
        for path in paths:
            if path != STDIN and not Path(path).is_file():
                raise ConnectorError(f"input file `{path}` does not exist")

    def list_parts(self) -> list[str]:
        return [STDIN_PARTITION] if self.paths == [STDIN] else [FILES_PARTITION]

    def build_part(
        self, step_id: str, for_part: str, resume_state: object | None
    ) -> StatefulSourcePartition[SourceBatch, object]:
        if for_part == STDIN_PARTITION:
            return _StdinPartition(self)  # type: ignore[return-value]
        resume = resume_state if isinstance(resume_state, _Resume) else None
        resume = resume or _Resume(0, 0, Watermark(self.lateness_ms))
        return _FilePartition(self.paths, resume, self)  # type: ignore[return-value]
