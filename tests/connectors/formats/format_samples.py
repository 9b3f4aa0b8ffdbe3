"""Vendor lines built from the copied fixtures in `tests/data/formats/` (see its PROVENANCE).

The vendors' examples hold the payloads (properties, params, items, contexts); the
envelopes around them (ids, users, times) are made here, deterministically.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

DATA = Path(__file__).parents[2] / "data" / "formats"
T0_US = 1_767_607_200_000_000  # 2026-01-05T10:00:00Z in microseconds


def segment_examples() -> dict[str, dict[str, Any]]:
    """Every spec v2 example, by event name, as `{"type": "track", "event", "properties"}`.

    The three the docs print without a comma are repaired (one comma each).
    """
    doc = json.loads((DATA / "segment_ecommerce_spec_examples.json").read_text())
    out: dict[str, dict[str, Any]] = {}
    for example in doc["examples_v2"]:
        parsed = example["parsed"] or _repair_js(example["verbatim"])
        out[example["section"]] = parsed
    return out


def _repair_js(code: str) -> dict[str, Any]:
    """`analytics.track('X', {...})` with a missing comma, as a track payload."""
    name = re.search(r"track\('([^']+)'", code)
    assert name is not None
    body = code[code.index("{") : code.rindex("}") + 1]
    body = re.sub(r"'\n(\s+\w+:)", r"',\n\1", body)  # the missing comma
    body = re.sub(r"(\w+):", r'"\1":', body).replace("'", '"')
    return {"type": "track", "event": name.group(1), "properties": json.loads(body)}


def segment_track(
    name: str, n: int, *, user: str | None = "u1", anon: str | None = "a1", minutes: int = 0
) -> dict[str, Any]:
    """The spec example `name` in a full envelope."""
    body = dict(segment_examples()[name])
    body |= {"messageId": f"m{n}", "timestamp": _iso(minutes)}
    if user:
        body["userId"] = user
    if anon:
        body["anonymousId"] = anon
    return body


def _iso(minutes: float) -> str:
    from datetime import UTC, datetime

    return (
        datetime.fromtimestamp(T0_US / 1e6 + minutes * 60, UTC).isoformat().replace("+00:00", "Z")
    )


def ga4_examples() -> dict[str, dict[str, Any]]:
    """Google's example events, by name (params, items and Measurement Protocol body)."""
    doc = json.loads((DATA / "ga4_ecommerce_event_examples.json").read_text())
    return {event["event_name"]: event for event in doc["events"]}


def ga4_body(
    names: list[str], *, client: str = "c.1", user: str | None = None, minutes: float = 0
) -> dict[str, Any]:
    """A Measurement Protocol body with Google's example events `names` (in order)."""
    examples = ga4_examples()
    events = []
    for name in names:
        if name in examples:
            events += examples[name]["measurement_protocol_payload"]["events"]
        else:  # not an e-commerce example: the event as the docs name it, no params
            events.append({"name": name, "params": {}})
    body: dict[str, Any] = {
        "client_id": client,
        "timestamp_micros": T0_US + int(minutes * 60_000_000),
        "events": events,
    }
    if user:
        body["user_id"] = user
    return body


def ga4_row(
    name: str, *, pseudo: str = "p.1", user: str | None = None, minutes: float = 0
) -> dict[str, Any]:
    """A BigQuery export row with Google's example params and items for `name`."""
    example = ga4_examples().get(name, {"example_params": {}, "example_items": []})
    params = []
    for key, value in example["example_params"].items():
        kind = "double_value" if isinstance(value, float) else (
            "int_value" if isinstance(value, int) else "string_value"
        )  # fmt: skip
        params.append({"key": key, "value": {kind: value}})
    row: dict[str, Any] = {
        "event_date": "20260105",
        "event_timestamp": str(T0_US + int(minutes * 60_000_000)),  # BigQuery's JSON: int64 as text
        "event_name": name,
        "event_params": params,
        "user_pseudo_id": pseudo,
        "user_id": user,
        "items": example.get("example_items") or [],
        "ecommerce": {},
    }
    if name == "purchase":
        value = example["example_params"].get("value")
        row["ecommerce"] = {"purchase_revenue": value, "transaction_id": "T_12345"}
        row["event_params"] = [
            p for p in params if p["key"] != "value"
        ]  # the revenue comes from ecommerce
    return row


def snowplow_rows() -> list[dict[str, str]]:
    """The copied warehouse rows, in event-time order."""
    with (DATA / "snowplow_ecommerce_events.sample.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    return sorted(rows, key=lambda r: r["derived_tstamp"] or r["collector_tstamp"])


_VERSIONED = re.compile(r"^(contexts|unstruct_event)_(.+)_(\d+)_(\d+)_(\d+)$")
_VENDORS = {
    "com_snowplowanalytics_snowplow_ecommerce": "com.snowplowanalytics.snowplow.ecommerce",
    "com_snowplowanalytics_snowplow": "com.snowplowanalytics.snowplow",
    "com_snowplowanalytics_mobile": "com.snowplowanalytics.mobile",
}


def snowplow_json(row: dict[str, str]) -> dict[str, Any]:
    """A warehouse row in the analytics SDKs' JSON layout (`contexts_..._1`: arrays)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value == "":
            continue
        match = _VERSIONED.match(key)
        if match:
            kind, name, model = match.group(1), match.group(2), match.group(3)
            data = json.loads(value)
            if data:
                out[f"{kind}_{name}_{model}"] = data
        elif key.endswith("tstamp"):
            out[key] = value.replace(" ", "T").replace("000+00:00", "Z")
        else:
            out[key] = value
    return out


def snowplow_tsv(row: dict[str, str]) -> str:
    """A warehouse row as the 131-field enriched TSV (contexts as self-describing JSON)."""
    from pulse.connectors.formats.snowplow import ENRICHED_FIELDS

    fields = {name: "" for name in ENRICHED_FIELDS}
    contexts = []
    for key, value in row.items():
        match = _VERSIONED.match(key)
        if match is None:
            if key in fields:
                fields[key] = value.replace("+00:00", "")[:23] if key.endswith("tstamp") else value
            continue
        if not value:
            continue
        kind, name, version = match.group(1), match.group(2), "-".join(match.group(3, 4, 5))
        vendor_key = next(v for v in _VENDORS if name.startswith(v + "_"))
        schema = f"iglu:{_VENDORS[vendor_key]}/{name[len(vendor_key) + 1 :]}/jsonschema/{version}"
        data = json.loads(value)
        if kind == "contexts":
            contexts += [{"schema": schema, "data": item} for item in data]
        else:
            fields["unstruct_event"] = json.dumps({
                "schema": "iglu:com.snowplowanalytics.snowplow/unstruct_event/jsonschema/1-0-0",
                "data": {"schema": schema, "data": data},
            })  # fmt: skip
    if contexts:
        fields["contexts"] = json.dumps({
            "schema": "iglu:com.snowplowanalytics.snowplow/contexts/jsonschema/1-0-1",
            "data": contexts,
        })  # fmt: skip
    return "\t".join(fields[name] for name in ENRICHED_FIELDS)


def write_lines(path: Path, records: list[Any]) -> Path:
    """One JSON object (or TSV text) per line."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path
