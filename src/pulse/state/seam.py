"""The one place Redis and decode errors become `StateError` (raised `from` the original).

Every Redis call of the `state` package goes through `translate` (or `call` and
`execute`, its forms for one call and one pipeline), so a caller above the seam
catches `StateError` only, whatever redis-py or msgspec raised.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import redis

from pulse.errors import StateError

__all__ = ["call", "execute", "translate"]


@contextlib.contextmanager
def translate(what: str) -> Iterator[None]:
    """Raise `StateError("<what>: <cause>")` for a Redis error or undecodable data inside.

    >>> with translate("reading `k`"):
    ...     msgspec.json.decode(b"{")
    Traceback (most recent call last):
    pulse.errors.StateError: reading `k`: corrupt data: Input data was truncated
    """
    try:
        yield
    except redis.RedisError as exc:
        raise StateError(f"{what}: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise StateError(f"{what}: corrupt data: {exc}") from exc


def call(fn: Callable[[], Any], what: str = "Redis call failed") -> Any:
    """`fn()`, its Redis errors translated (redis-py's replies are untyped: `Any`)."""
    with translate(what):
        return fn()


def execute(pipe: Any, what: str = "Redis batch failed") -> list[Any]:
    """Run a pipeline; its replies, its Redis errors translated."""
    with translate(what):
        return list(pipe.execute())
