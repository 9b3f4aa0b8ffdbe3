"""Matching triggers across two rule sets (`pulse.compare.compare_triggers`), pure."""

from __future__ import annotations

import pytest

from pulse.compare import SAMPLES, compare_triggers, percentile
from pulse.compare_report import format_shift
from pulse.triggers import Trigger, iso_ms, trigger_id

T0 = 1_767_607_200_000


def fired(contact: str, name: str, episode: str, ts_ms: int) -> Trigger:
    return Trigger(
        trigger_id=trigger_id(contact, name, episode), trigger=name, kind=name,
        contact_id=contact, ts=iso_ms(ts_ms), ts_ms=ts_ms, score=0.0, stage="decision",
        channel=None, rules_version="v", reason={},
    )  # fmt: skip


def test_same_episode_at_another_time_is_shifted_not_added_and_removed() -> None:
    before = [fired("c1", "abandon_cart", "e1", T0)]
    after = [fired("c1", "abandon_cart", "e1", T0 + 1_800_000)]
    (change,) = compare_triggers(before, after)
    assert (change.shifted, change.added, change.removed, change.same) == (1, 0, 0, 0)
    assert change.shift_median_s == change.shift_p90_s == 1800.0
    assert change.samples["shifted"][0].contact == "c1"


def test_another_episode_is_one_removed_and_one_added() -> None:
    before = [fired("c1", "abandon_cart", "cart1", T0)]
    after = [fired("c1", "abandon_cart", "cart2", T0 - 60_000)]
    (change,) = compare_triggers(before, after)
    assert (change.shifted, change.added, change.removed) == (0, 1, 1)
    assert change.shift_median_s is None


def test_sales_ready_crossing_on_another_event_is_shifted_as_rearmed() -> None:
    before = [fired("c1", "sales_ready", "e9", T0)]
    after = [fired("c1", "sales_ready", "e7", T0 - 300_000)]
    (change,) = compare_triggers(before, after)
    assert (change.shifted, change.rearmed, change.added, change.removed) == (1, 1, 0, 0)
    assert change.shift_median_s == -300.0
    assert change.samples["shifted"][0].after_trigger_id == after[0].trigger_id


def test_rearmed_pairs_nearest_first_and_not_beyond_the_window() -> None:
    before = [fired("c1", "sales_ready", "e1", T0), fired("c1", "sales_ready", "e2", T0 + 10**9)]
    after = [fired("c1", "sales_ready", "e3", T0 + 10**9 - 60_000)]
    after += [fired("c2", "sales_ready", "e4", T0 + 3 * 86_400_000)]  # another contact
    (change,) = compare_triggers(before, after)
    assert (change.rearmed, change.added, change.removed, change.shift_median_s) == (1, 1, 1, -60.0)
    assert change.samples["removed"][0].before == iso_ms(T0)


def test_counts_are_per_trigger_name_and_samples_are_capped() -> None:
    before = [fired(f"c{i}", "welcome", "s", T0) for i in range(20)]
    after = [fired(f"c{i}", "welcome", "s", T0) for i in range(10)]
    after += [fired("c1", "post_purchase", "o1", T0)]
    changes = {c.trigger: c for c in compare_triggers(before, after)}
    assert (changes["welcome"].before, changes["welcome"].after) == (20, 10)
    assert (changes["welcome"].same, changes["welcome"].removed) == (10, 10)
    assert len(changes["welcome"].samples["removed"]) == SAMPLES
    assert changes["post_purchase"].added == 1 and changes["post_purchase"].before == 0


def test_earlier_firing_is_a_negative_shift() -> None:
    before = [fired("c1", "rescue", "e1", T0 + 3_600_000)]
    after = [fired("c1", "rescue", "e1", T0)]
    (change,) = compare_triggers(before, after)
    assert change.shift_median_s == -3600.0 and format_shift(change.shift_median_s) == "-1h"


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([0.0, 10.0], 90) == 9.0
    assert percentile([1800.0, 1800.0, 1800.0, 4800.0], 90) == pytest.approx(3900.0)
