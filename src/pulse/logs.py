"""Log lines: `text` for people, `json` (one object per line) for log collectors.

`configure_logging` is called once per process, by the `pulse` command and by the flow
under `python -m bytewax.run`, with the `log_level` and `log_format` settings.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

__all__ = ["JsonFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `ts` (ISO-8601, UTC), `level`, `logger`, `message`
    (and `exc`, the traceback, when there is one).

    >>> record = logging.LogRecord("pulse.cli", logging.INFO, "", 0, "hi %s", ("x",), None)
    >>> record.created = 0.0
    >>> JsonFormatter().format(record)
    '{"ts":"1970-01-01T00:00:00.000+00:00","level":"INFO","logger":"pulse.cli","message":"hi x"}'
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str, log_format: str) -> None:
    """Log to standard error at `level` (`DEBUG` ... `CRITICAL`) as `text` or `json`.

    Like `logging.basicConfig`, does nothing when the root logger already has handlers.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler])
