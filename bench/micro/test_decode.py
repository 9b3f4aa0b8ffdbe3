"""Decoding at the edge: raw JSON lines into typed `Event`s."""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from conftest import BATCH
from pulse.events import EventDecoder
from pulse.rules import Rules


@pytest.mark.benchmark(group="decode")
def test_decode_batch_of_typical_lines(
    benchmark: BenchmarkFixture, lines: list[bytes], rules: Rules
) -> None:
    """`EventDecoder.decode` over a batch of generated lines (one in ten has an ISO `ts`)."""
    decode = EventDecoder(rules.event_types).decode
    benchmark.extra_info["items"] = BATCH

    events = benchmark(lambda: [decode(line) for line in lines])

    assert len(events) == BATCH
