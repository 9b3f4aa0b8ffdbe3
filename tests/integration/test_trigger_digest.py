"""The generated default stream fires exactly the committed set of trigger ids.

A change that adds, drops or re-identifies a trigger on the seeded generated stream
(default pack, model on, every timer due) fails here until the digest in
`data/trigger_digest.json` is updated, and the commit that updates it says why:
consumers drop duplicates by `trigger_id`, so ids are part of the contract.
Regenerate with `python tests/integration/test_trigger_digest.py`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pulse.connectors.generator import GeneratorConfig, write_jsonl

CONFIG = GeneratorConfig(contacts=400, events=12_000, span_days=120, seed=21)
UNTIL = "2026-09-01T00:00:00Z"
DIGEST = Path(__file__).parent / "data" / "trigger_digest.json"


def digest_of(trigger_ids: list[str], kinds: list[str]) -> dict[str, Any]:
    """A sha256 over the sorted ids, and the count per trigger kind (for a readable diff).

    >>> digest_of(["b", "a"], ["welcome", "rescue"])["triggers"]
    2
    """
    ids = sorted(trigger_ids)
    return {
        "triggers": len(ids),
        "by_kind": dict(sorted(Counter(kinds).items())),
        "sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
    }


def test_generated_default_stream_fires_the_committed_trigger_ids(
    replay: Any, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(CONFIG, events)

    triggers = replay(events, until=UNTIL)

    got = digest_of([t.trigger_id for t in triggers], [t.kind for t in triggers])
    assert got == json.loads(DIGEST.read_text())


if __name__ == "__main__":  # regenerate the committed digest (say why in the commit)
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "events.jsonl"
        write_jsonl(CONFIG, path)
        out = Path(scratch) / "triggers.jsonl"
        subprocess.run(
            [sys.executable, "-m", "pulse.cli", "replay", str(path), "--until", UNTIL,
             "--triggers", str(out)],
            check=True,
        )  # fmt: skip
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    DIGEST.write_text(
        json.dumps(digest_of([r["trigger_id"] for r in rows], [r["kind"] for r in rows])) + "\n"
    )
    print(DIGEST.read_text())
