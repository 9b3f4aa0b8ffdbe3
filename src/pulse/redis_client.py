"""The Redis client pulse uses everywhere, and what it does when Redis goes away.

`connect(url)` builds a `redis.Redis` whose connections retry connection errors
and timeouts with exponential backoff for a total time budget per outage
(`retry_s`, default `PULSE_REDIS_RETRY_S` or 60 s). Each failed attempt logs one
line on the `pulse.redis` logger:

    redis unreachable at redis://127.0.0.1:6379/0 (attempt 3, retrying in 0.8 s): Connection refused

Past the budget the call raises `RedisUnreachableError`, a `StateError` whose
message is the one line the CLI prints (`cannot reach Redis at ...`). Passwords
never appear in a message or a log line: URLs are shown through `mask_url`.

The policy is `BudgetRetry`, a strategy object in the shape of redis-py's
`Retry` (redis-py deep-copies it into each connection, so each connection keeps
its own outage clock; nested retries of one connection share it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import AbstractBackoff, ExponentialBackoff
from redis.retry import Retry

from pulse.errors import ConfigError, StateError

__all__ = [
    "DEFAULT_RETRY_S",
    "RETRY_ENV",
    "BudgetRetry",
    "RedisUnreachableError",
    "connect",
    "default_retry_s",
    "mask_url",
    "set_default_retry_s",
]

T = TypeVar("T")

RETRY_ENV = "PULSE_REDIS_RETRY_S"
DEFAULT_RETRY_S = 60.0
"""How long an unreachable Redis is retried before the run stops, unless configured."""

log = logging.getLogger("pulse.redis")

_default_retry_s: float | None = None


class RedisUnreachableError(StateError):
    """Redis stayed unreachable for the whole retry budget."""


def mask_url(url: str) -> str:
    """The URL with its password (in the authority or the query) replaced by `***`.

    >>> mask_url("redis://:s3cret@db:6379/0")
    'redis://:***@db:6379/0'
    >>> mask_url("rediss://app:s3cret@db/1?password=x&ssl_cert_reqs=none")
    'rediss://app:***@db/1?password=***&ssl_cert_reqs=none'
    >>> mask_url("redis://127.0.0.1:6379/0")
    'redis://127.0.0.1:6379/0'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostinfo}" if has_password else netloc
    query = parts.query
    if "password" in query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _scrub(text: str, url: str) -> str:
    """`text` with every password that `url` carries replaced by `***`.

    >>> _scrub("Port could not be cast: 'x:pw@h'", "redis://x:pw@h")
    "Port could not be cast: 'x:***@h'"
    """
    secrets: list[str] = []
    with contextlib.suppress(ValueError):
        secrets += [v for k, v in parse_qsl(urlsplit(url).query) if k == "password"]
    userinfo = url.split("//", 1)[-1].rpartition("@")[0]
    if ":" in userinfo:
        secrets.append(userinfo.split(":", 1)[1])
    for secret in sorted(set(filter(None, secrets)), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def default_retry_s() -> float:
    """The process-wide retry budget: `set_default_retry_s`, else `PULSE_REDIS_RETRY_S`, else 60."""
    if _default_retry_s is not None:
        return _default_retry_s
    raw = os.environ.get(RETRY_ENV)
    if not raw:
        return DEFAULT_RETRY_S
    return parse_retry_s(raw, f"`{RETRY_ENV}`")


def set_default_retry_s(seconds: float | None) -> None:
    """Set (or, with `None`, forget) the budget of clients built without an explicit one."""
    global _default_retry_s
    _default_retry_s = seconds


def parse_retry_s(raw: str, where: str) -> float:
    """A retry budget in seconds from text; raises `ConfigError` unless it is a number >= 0.

    >>> parse_retry_s("2.5", "`--redis-retry-s`")
    2.5
    """
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{where}: Expected a number of seconds, got `{raw}`") from None
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{where}: Expected a finite number of seconds >= 0, got `{raw}`")
    return value


def _reason(error: BaseException) -> str:
    """The OS reason behind a redis-py connection error, without redis-py's wrapping.

    redis-py raises `ConnectionError("Error 111 connecting to h:p. Connection refused.")`
    from the `OSError`; the operator needs only the last part.
    """
    context = error.__context__
    if isinstance(context, OSError) and context.strerror:
        return context.strerror
    if isinstance(error, (redis.TimeoutError, socket.timeout)):
        return "timed out"
    return str(error).rstrip(".") or type(error).__name__


class BudgetRetry(Retry):
    """Retry connection errors with exponential backoff until a time budget per outage runs out.

    An outage starts at the first failure and ends at the next success; every
    failure inside it logs one line with its attempt number and the wait before
    the next one. Authentication errors are not retried: waiting will not fix a
    wrong password.
    """

    def __init__(
        self,
        where: str,
        budget_s: float,
        backoff: AbstractBackoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            backoff or ExponentialBackoff(cap=5.0, base=0.1),
            retries=-1,
            supported_errors=(redis.ConnectionError, redis.TimeoutError, socket.timeout),
        )
        self.where = where
        self.budget_s = budget_s
        self._clock = clock
        self._sleep = sleep
        self._outage_started: float | None = None
        self._attempts = 0

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, BudgetRetry)
            and self.where == other.where
            and self.budget_s == other.budget_s
        )

    __hash__ = Retry.__hash__

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Call `do` until it succeeds; `fail(error)` cleans up after each failure."""
        failures = 0
        while True:
            try:
                result = do()
            except redis.AuthenticationError:
                raise
            except self._supported_errors as error:
                if is_retryable is not None and not is_retryable(error):
                    raise
                failures += 1
                if with_failure_count:
                    fail(error, failures)
                else:
                    fail(error)
                self._wait_or_give_up(error)
            else:
                self._recovered()
                return result

    def _wait_or_give_up(self, error: Exception) -> None:
        now = self._clock()
        if self._outage_started is None:
            self._outage_started = now
        self._attempts += 1
        elapsed = now - self._outage_started
        reason = _reason(error)
        if elapsed >= self.budget_s:
            attempts, self._outage_started, self._attempts = self._attempts, None, 0
            raise RedisUnreachableError(
                f"cannot reach Redis at {self.where}: {reason} "
                f"(gave up after {elapsed:.1f} s and {attempts} attempts; "
                f"`--redis-retry-s` / `{RETRY_ENV}` sets how long to wait)"
            ) from error
        delay = min(self._backoff.compute(self._attempts), self.budget_s - elapsed)
        log.warning(
            "redis unreachable at %s (attempt %d, retrying in %.1f s): %s",
            self.where, self._attempts, delay, reason,
        )  # fmt: skip
        self._sleep(delay)

    def _recovered(self) -> None:
        if self._outage_started is not None:
            log.warning(
                "redis reachable again at %s after %d failed attempts (%.1f s)",
                self.where, self._attempts, self._clock() - self._outage_started,
            )  # fmt: skip
        self._outage_started = None
        self._attempts = 0


def connect(url: str, *, retry_s: float | None = None) -> redis.Redis:
    """A client on `url` that rides out Redis outages up to `retry_s` (see the module docstring).

    `redis+cluster://host:port` (or `rediss+cluster://`) connects to a Redis Cluster
    through any of its nodes; pulse then uses the cluster key layout.

    Raises `StateError` for a malformed URL, with the password masked.
    """
    budget_s = default_retry_s() if retry_s is None else retry_s
    where = mask_url(url)
    scheme, is_cluster, rest = url.partition("+cluster://")
    try:
        if is_cluster:
            # Typed as `redis.Redis`: the commands pulse sends are the same; the state
            # layer picks the cluster key layout by the client's class (`layout_for`).
            # redis-py's cluster client retries with its own policy (it re-reads the
            # slot map between attempts), backing off up to about the same budget.
            cluster: Any = redis.RedisCluster.from_url(
                f"{scheme}://{rest}",
                retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), max(1, int(budget_s / 2))),
                socket_connect_timeout=5.0,
                socket_timeout=30.0,
            )
            return cast(redis.Redis, cluster)
        return redis.Redis.from_url(
            url,
            retry=BudgetRetry(where, budget_s),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            # An unreachable host that drops packets would otherwise block one
            # attempt for minutes (the kernel's SYN retries), longer than the budget.
            socket_connect_timeout=5.0,
            # A hung server (paused, or a network that drops replies) becomes a
            # retried timeout instead of a flow that waits forever in silence.
            socket_timeout=30.0,
            health_check_interval=30,
        )
    except (ValueError, TypeError) as exc:
        # Not chained: the original message and traceback may carry the password.
        raise StateError(f"invalid Redis URL `{where}`: {_scrub(str(exc), url)}") from None
