"""The Redis client's retry budget and password masking, against real sockets."""

from __future__ import annotations

import logging

import pytest

from pulse.errors import StateError
from pulse.redis_client import RedisUnreachableError, connect, mask_url
from pulse.redis_server import free_port


def test_malformed_url_error_masks_the_password() -> None:
    with pytest.raises(StateError) as caught:
        connect("redis://:hunter2@db.internal:notaport/0")
    message = str(caught.value)
    assert "hunter2" not in message
    assert "redis://:***@db.internal:notaport/0" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_unreachable_redis_logs_each_attempt_then_raises_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    client = connect(url, retry_s=0.5)
    with (
        caplog.at_level(logging.WARNING, logger="pulse.redis"),
        pytest.raises(RedisUnreachableError) as caught,
    ):
        client.ping()
    message = str(caught.value)
    assert message.startswith(f"cannot reach Redis at {mask_url(url)}: Connection refused")
    assert "\n" not in message and "hunter2" not in message
    attempts = [r.getMessage() for r in caplog.records if r.name == "pulse.redis"]
    assert attempts[0].startswith(
        f"redis unreachable at {mask_url(url)} (attempt 1, retrying in 0.2 s): Connection refused"
    )
    assert all("hunter2" not in line for line in attempts)
    assert len(attempts) + 1 == int(message.split(" and ")[1].split()[0])  # the last one gives up


def test_zero_budget_gives_up_at_the_first_failure() -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0", retry_s=0)
    with pytest.raises(RedisUnreachableError, match=r"after 0\.0 s and 1 attempts"):
        client.ping()
