"""Golden files: hand-written events and the exact triggers they must produce.

Each `tests/golden/*.yaml` is a rule test file (the format of `rules/tests/`, read
and run by `pulse.ruletest`, the one harness; `pulse test tests/golden/*.yaml` runs
them too): `events` with absolute times, `expect.triggers` exactly those that fire
(a mapping may add the `reason` facts and the `stage` a trigger must carry), and
optionally `until`, `rules` (a file in `tests/golden/rules/`) or `rules_patch`.
A file may hold several `cases`; every case must pass. Every file is replayed with
batch sizes 1 and 1000: the same triggers must fire.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.ruletest import load_cases, run_cases

GOLDEN = Path(__file__).parent.parent / "golden"
CASES = sorted(GOLDEN.glob("*.yaml"))


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_file_fires_exactly_the_expected_triggers(
    case: Path, batch_size: int, redis_url: str
) -> None:
    for result in run_cases(load_cases(case), redis_url, batch_size=batch_size):
        assert result.outcome == "passed", "\n".join(
            [result.id, result.description, *result.details]
        )


def test_golden_files_cover_every_trigger_kind() -> None:
    kinds = {
        expected.trigger
        for case in CASES
        for loaded in load_cases(case)
        for expected in loaded.triggers or []
    }
    assert kinds >= {
        "welcome", "abandon_cart", "browse_abandon", "sales_ready",
        "rescue", "lost_customer", "welcome_back", "post_purchase",
    }  # fmt: skip
