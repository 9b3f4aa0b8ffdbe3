"""The demo stream through the real flow: nobody is messaged who may not be.

The generator plants unsubscribes and hard bounces (`UNSUBSCRIBE_P`, `BOUNCE_P`) and
anonymous visitors; with the shipped pack (model on), no trigger that reaches a
person on email (sent or deferred) goes to an anonymous key, nor to a contact whose
email unsubscribe or bounce came before it in event time; those are recorded as
suppressed with the reason instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from pulse.connectors.generator import GeneratorConfig, write_jsonl
from pulse.events import parse_ts
from pulse.identity import is_anonymous

CONFIG = GeneratorConfig(contacts=600, events=15_000, span_days=90, seed=11)
UNTIL = "2026-08-01T00:00:00Z"


def test_no_email_reaches_an_anonymous_or_unsubscribed_contact(replay: Any, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(CONFIG, events)
    blocked_at: dict[str, int] = {}  # contact -> first email unsubscribe or bounce
    for line in events.read_bytes().splitlines():
        event = orjson.loads(line)
        if event["type"] in ("unsubscribe", "email_bounced") and "contact_id" in event:
            ts = event["ts"] if isinstance(event["ts"], int) else parse_ts(event["ts"])
            blocked_at.setdefault(event["contact_id"], ts)
    assert len(blocked_at) >= 5  # the generator planted some

    triggers = replay(events, until=UNTIL)

    emailed = [t for t in triggers if t.channel == "email"]
    reaching = [t for t in emailed if t.decision in ("sent", "deferred")]
    assert reaching
    assert not [t for t in reaching if is_anonymous(t.contact_id)]
    late = [t for t in reaching if t.ts_ms > blocked_at.get(t.contact_id, 2**62)]
    assert not late, late[:3]
    stopped = [
        t
        for t in emailed
        if t.ts_ms > blocked_at.get(t.contact_id, 2**62) and t.decision == "suppressed"
    ]
    assert stopped
    assert {t.suppressed_reason for t in stopped} <= {
        "unsubscribed", "hard_bounce", "cooldown", "frequency_cap", "excluded", "no_address",
    }  # fmt: skip
    assert {"unsubscribed", "hard_bounce"} & {t.suppressed_reason for t in stopped}
    anonymous = [t for t in emailed if is_anonymous(t.contact_id)]
    assert anonymous and all(t.suppressed_reason == "no_address" for t in anonymous)
