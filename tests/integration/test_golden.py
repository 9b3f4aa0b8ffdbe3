"""Golden files: hand-written events and the exact triggers they must produce.

Each `tests/golden/*.yaml` holds `events`, `expect` (trigger, contact, ts), and
optionally `until` (event time reached at end of input), `rules` (a whole rules
file) or `rules_patch` (text replacements in the default pack). Every file is
replayed with batch sizes 1 and 1000: the triggers must be exactly those listed
(an optional fourth element of an expected trigger names fields it must carry).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import orjson
import pytest
import yaml

from pulse.rules import default_rules_path

GOLDEN = Path(__file__).parent.parent / "golden"
CASES = sorted(GOLDEN.glob("*.yaml"))


@pytest.mark.parametrize("batch_size", [1, 1000])
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden_file_fires_exactly_the_expected_triggers(
    case: Path, batch_size: int, replay, tmp_path: Path
) -> None:
    spec = yaml.safe_load(case.read_text())
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in spec["events"]) + b"\n")
    rules = spec.get("rules") or default_rules_path().read_text()
    for old, new in (spec.get("rules_patch") or {}).items():
        assert old in rules, f"rules_patch target `{old}` not in the rules"
        rules = rules.replace(old, new)

    triggers = replay(events, rules=rules, batch_size=batch_size, until=spec.get("until"))

    fired = sorted((t.trigger, t.contact_id, t.ts) for t in triggers)
    expected = sorted(tuple(e[:3]) for e in spec["expect"])
    assert fired == expected, spec["description"]
    # A fourth element names fields the trigger must carry, e.g. `{stage: customer}`.
    by_key = {(t.trigger, t.contact_id, t.ts): msgspec.to_builtins(t) for t in triggers}
    for trigger, contact, ts, *fields in spec["expect"]:
        for name, value in (fields[0] if fields else {}).items():
            got = by_key[(trigger, contact, ts)][name]
            if isinstance(value, dict):  # a mapping lists the keys that must match
                got = {k: got.get(k) for k in value}
            assert got == value, (trigger, contact, name)


def test_golden_files_cover_every_trigger_kind() -> None:
    kinds = {e[0] for case in CASES for e in yaml.safe_load(case.read_text())["expect"]}
    assert kinds >= {
        "welcome", "abandon_cart", "browse_abandon", "sales_ready",
        "rescue", "lost_customer", "welcome_back", "post_purchase",
    }  # fmt: skip
