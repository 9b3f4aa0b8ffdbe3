"""`Duration`, the type of every span of event time in a rules file.

The rules schema (`pulse.rules.schema`) and each trigger kind's spec
(`pulse.triggers`) are built from these, so a kind's module can declare its spec
without importing the rules package that assembles the file from it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pulse.duration import parse_duration_ms

__all__ = ["Duration", "duration_field"]


class Duration:
    """A span of event time, written `30m`, `1h30m`, `14d` or as seconds."""

    __slots__ = ("ms",)

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __repr__(self) -> str:
        return f"Duration(ms={self.ms})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other.ms == self.ms

    def __hash__(self) -> int:
        return hash(self.ms)


def duration_field(text: str) -> Any:
    """A struct field defaulting to the duration `text`.

    >>> class Wait(msgspec.Struct):
    ...     after: Duration = duration_field("30m")
    >>> Wait().after
    Duration(ms=1800000)
    """
    return msgspec.field(default_factory=lambda: Duration(parse_duration_ms(text)))
