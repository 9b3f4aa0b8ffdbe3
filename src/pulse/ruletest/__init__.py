"""Rule tests: short event sequences and the exact triggers, scores and stages they must give.

A rule test file (`rules/tests/*.yaml`) holds one case, or several under `cases`
sharing the file's `rules`, `rules_patch`, `start`, `contact` and `until`:

```yaml
description: a cart left alone fires `abandon_cart` 30 minutes after the last add
rules: default                 # the default pack, or a rules file relative to this file
start: "2026-01-05T10:00:00Z"  # what relative times (`+31m`) count from
contact: c1                    # default contact of the events
until: +2h                     # event time reached at end of input (fires timers)
events:
  - {at: +0m, type: add_to_cart, props: {product_id: p1, price: 20.0}}
  - {at: +20m, type: add_to_cart, props: {product_id: p2, price: 30.0}}
expect:
  triggers:                    # exactly these fire: [trigger, contact, at], or a mapping
    - [abandon_cart, c1, +50m] # that may add `reason` (a subset the trigger must carry)
                               # and `stage` (the stage it carries)
  scores: {c1: 15.94}          # at `expect.at`, `until` or the last event: the blended score
  stages: {c1: decision}
```

Each case runs through the real dataflow against real Redis, under a key prefix
of its own, so cases never see each other's state. `run_cases` returns one
`CaseResult` per case; `format_report` prints them the way pytest does.

Read in this order: `cases` (the file format, loading), `run` (the dataflow run and
the differences), `report` (text and JUnit XML).
"""

from __future__ import annotations

from pulse.ruletest.cases import CaseResult, RuleCase, find_cases, load_cases, parse_when
from pulse.ruletest.report import format_report, junit_xml
from pulse.ruletest.run import run_cases

__all__ = [
    "CaseResult",
    "RuleCase",
    "find_cases",
    "format_report",
    "junit_xml",
    "load_cases",
    "parse_when",
    "run_cases",
]
