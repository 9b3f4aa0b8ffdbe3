"""`pulse.state.seam`: Redis and decode errors become `StateError`, the cause kept."""

from __future__ import annotations

import msgspec
import pytest
import redis

from pulse.errors import StateError
from pulse.state import translate
from pulse.state.seam import call


def test_redis_error_becomes_state_error_naming_what_failed() -> None:
    cause = redis.ConnectionError("Connection refused")
    with (
        pytest.raises(StateError, match=r"^reading `k`: Connection refused$") as info,
        translate("reading `k`"),
    ):
        raise cause
    assert info.value.__cause__ is cause


def test_undecodable_data_becomes_state_error_saying_it_is_corrupt() -> None:
    with pytest.raises(StateError, match=r"^reading `k`: corrupt data: ") as info:
        call(lambda: msgspec.msgpack.decode(b"\xc1"), "reading `k`")
    assert isinstance(info.value.__cause__, msgspec.DecodeError)


def test_other_errors_pass_through_untranslated() -> None:
    with pytest.raises(KeyError), translate("reading `k`"):
        raise KeyError("k")
