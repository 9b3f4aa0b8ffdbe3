"""The whole stream: every contact's journey laid out in time, merged, encoded as JSON Lines."""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from random import Random
from typing import IO, NamedTuple

import orjson

from pulse.config import GeneratorConfig
from pulse.connectors.generator.personas import _ANONYMOUS, _budgets, _choose, _persona_weights
from pulse.connectors.generator.sessions import (
    _CHUNK,
    _ISO_EVERY,
    Planted,
    _Catalogue,
    _Journey,
    _Row,
)
from pulse.connectors.traffic import hot_rows
from pulse.events import Event, parse_ts


class _Stream(NamedTuple):
    rows: list[_Row]
    contact_ids: list[str | None]
    anonymous_ids: list[str]


def _build(config: GeneratorConfig) -> _Stream:
    """Every contact's journey, merged into one list ordered by time (ties: contact, order)."""
    # Millions of small tuples and dicts, none in a cycle: the cyclic collector would rescan
    # them over and over for nothing (a third of the run time at 1M events).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build_journeys(config)
    finally:
        if enabled:
            gc.enable()


def _build_journeys(config: GeneratorConfig) -> _Stream:
    rng = Random(config.seed)
    catalogue = _Catalogue(rng)
    if config.rate_per_s > 0:
        return _build_hot(config, rng, catalogue)
    rows: list[_Row] = []
    contact_ids: list[str | None] = []
    anonymous_ids: list[str] = []
    budgets = _budgets(config, rng)
    weights = _persona_weights(config, budgets)
    planted = None
    if config.planted_lift > 0:
        planted = Planted(config.planted_lift, config.planted_holdout, config.planted_experiment)
    for ci, budget in enumerate(budgets):
        anonymous_ids.append(f"{rng.getrandbits(64):016x}")
        persona = _choose(rng, config, weights, budget) if budget else _ANONYMOUS
        contact_ids.append(None if persona is _ANONYMOUS else f"c{ci + 1}")
        if budget:
            journey = _Journey(rng, catalogue, ci, config.seed, config.start_ms, config.end_ms)
            journey.planted = planted
            persona.write(journey, budget)
            if persona is not _ANONYMOUS:
                _plant_consent(journey, config.seed)
            rows.extend(journey.rows(budget))
    rows.sort(key=itemgetter(0))  # stable, so equal times keep contact and journey order
    return _Stream(rows, contact_ids, anonymous_ids)


UNSUBSCRIBE_P = 0.05
"""Share of identified contacts who unsubscribe from email, at one of their email opens."""
BOUNCE_P = 0.01
"""Share whose address hard-bounces, at one of the campaign emails sent to them."""


def _plant_consent(journey: _Journey, seed: int) -> None:
    """Turn an email open into an `unsubscribe` (or a send into a hard bounce) for a few
    contacts, so runs show suppressed decisions. The draws come from a generator of the
    contact's own: the rest of the stream is what it would be without them."""
    rng = Random(f"{seed}:{journey.ci}:consent")
    draw = rng.random()
    if draw < UNSUBSCRIBE_P:
        wanted, planted = "email_open", "unsubscribe"
    elif draw < UNSUBSCRIBE_P + BOUNCE_P:
        wanted, planted = "email_sent", "email_bounced"
    else:
        return
    out = journey.out
    at = [i for i, row in enumerate(out) if row[2] == wanted]
    if at:
        i = at[rng.randrange(len(at))]
        ts, ci, _, props = out[i]
        out[i] = (ts, ci, planted, {"channel": "email", **props})


def _build_hot(config: GeneratorConfig, rng: Random, catalogue: _Catalogue) -> _Stream:
    """Dense Zipf traffic with a hot head contact (`hot_rows`), all contacts identified."""
    rows = hot_rows(
        contacts=config.contacts,
        events=config.events,
        start_ms=config.start_ms,
        rate_per_s=config.rate_per_s,
        hot_share=config.hot_share,
        seed=config.seed,
        pick_product=catalogue.pick,
    )
    anonymous_ids = [f"{rng.getrandbits(64):016x}" for _ in range(config.contacts)]
    return _Stream(rows, [f"c{ci + 1}" for ci in range(config.contacts)], anonymous_ids)


def _iso(ts_ms: int) -> str | None:
    """`ts_ms` as ISO-8601 with `Z`, or None if it would not decode to exactly `ts_ms`."""
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000))
    text = f"{text}.{ts_ms % 1000:03d}Z"
    return text if parse_ts(text) == ts_ms else None


def generate_lines(config: GeneratorConfig) -> Iterator[bytes]:
    """JSON lines (no trailing newline), globally ordered by event time, exactly `config.events`."""
    stream = _build(config)
    contact_ids, anonymous_ids = stream.contact_ids, stream.anonymous_ids
    prefix = f"g{config.seed}-"
    dumps = orjson.dumps
    for n, (ts, ci, type_, props) in enumerate(stream.rows):
        wire_ts: int | str = ts
        if n % _ISO_EVERY == _ISO_EVERY - 1:
            wire_ts = _iso(ts) or ts
        contact_id = contact_ids[ci]
        if contact_id is None:
            line = {"event_id": prefix + str(n), "type": type_, "ts": wire_ts,
                    "anonymous_id": anonymous_ids[ci], "props": props}  # fmt: skip
        elif type_ == "signup":
            # Sign-up is where the visitor's cookie meets the new contact: both ids travel.
            line = {"event_id": prefix + str(n), "type": type_, "ts": wire_ts,
                    "contact_id": contact_id, "anonymous_id": anonymous_ids[ci],
                    "props": props}  # fmt: skip
        else:
            line = {"event_id": prefix + str(n), "type": type_, "ts": wire_ts,
                    "contact_id": contact_id, "props": props}  # fmt: skip
        yield dumps(line)


def generate_events(config: GeneratorConfig) -> Iterator[Event]:
    """The stream of `generate_lines`, already decoded: equal to `decode_event` of each line."""
    stream = _build(config)
    contact_ids, anonymous_ids = stream.contact_ids, stream.anonymous_ids
    prefix = f"g{config.seed}-"
    for n, (ts, ci, type_, props) in enumerate(stream.rows):
        contact_id = contact_ids[ci]
        if contact_id is None:
            anonymous_id = anonymous_ids[ci]
            yield Event(
                prefix + str(n), type_, ts, "anon:" + anonymous_id, None, anonymous_id, props
            )
        else:
            anonymous_id_or_none = anonymous_ids[ci] if type_ == "signup" else None
            yield Event(
                prefix + str(n), type_, ts, contact_id, contact_id, anonymous_id_or_none, props
            )


def write_jsonl(config: GeneratorConfig, path: str | Path | IO[bytes]) -> int:
    """Write the stream as newline-terminated JSON lines; returns how many lines were written."""
    if isinstance(path, str | Path):
        with open(path, "wb") as fh:
            return _write(config, fh)
    return _write(config, path)


def _write(config: GeneratorConfig, fh: IO[bytes]) -> int:
    written = 0
    lines = generate_lines(config)
    while chunk := list(itertools.islice(lines, _CHUNK)):
        chunk.append(b"")  # so the join ends the last line with a newline too
        fh.write(b"\n".join(chunk))
        written += len(chunk) - 1
    return written
