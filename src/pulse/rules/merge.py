"""`extends`: a rules file that holds only its changes to a base pack.

The file is merged over the base as plain YAML data, before validation, so the
merged pack is checked exactly like a whole file:

- top-level values replace the base's; `stages`, `model` and `scoring` merge key by key;
- `event_types` adds to the base's;
- a point rule (named by `name`, else its `event`) or a trigger (named by `name`,
  else its `kind`) with the name of a base one changes it field by field, in place
  (a trigger of another `kind` replaces it); `enabled: false` removes it; others
  are added after the base's.
"""

from __future__ import annotations

from typing import Any

from pulse.rules.problems import Origin

__all__ = ["merge_documents"]


def merge_documents(
    base: dict[str, Any], own: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Origin]]:
    """`own` merged over `base`, and where each merged list item came from.

    >>> base = {"scoring": {"total_cap": 200, "rules": [{"event": "login", "points": 2}]}}
    >>> own = {"extends": "default", "scoring": {"rules": [{"event": "login", "points": 5},
    ...                                                    {"event": "search", "points": 1}]}}
    >>> merged, origins = merge_documents(base, own)
    >>> merged["scoring"]
    {'total_cap': 200, 'rules': [{'event': 'login', 'points': 5}, {'event': 'search', 'points': 1}]}
    >>> origins["$.scoring.rules[0]"], origins["$.scoring.rules[1]"]
    (Origin(own=0, base=0), Origin(own=1, base=None))
    """
    merged = {key: value for key, value in base.items() if key != "extends"}
    origins: dict[str, Origin] = {}
    for key, value in own.items():
        if key == "extends":
            continue
        if key == "event_types" and isinstance(value, list):
            inherited = base.get("event_types")
            inherited = inherited if isinstance(inherited, list) else []
            merged[key] = inherited + [t for t in value if t not in inherited]
        elif key == "triggers" and isinstance(value, list):
            merged[key] = _merge_items(base.get(key), value, "kind", "$.triggers", origins)
        elif key == "scoring" and isinstance(value, dict):
            head = base.get("scoring")
            scoring = dict(head) if isinstance(head, dict) else {}
            for field, item in value.items():
                if field == "rules" and isinstance(item, list):
                    scoring["rules"] = _merge_items(
                        scoring.get("rules"), item, "event", "$.scoring.rules", origins
                    )
                else:
                    scoring[field] = item
            merged[key] = scoring
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    merged_scoring = merged.get("scoring")
    point_rules = merged_scoring.get("rules") if isinstance(merged_scoring, dict) else None
    for path, items in (("$.triggers", merged.get("triggers")), ("$.scoring.rules", point_rules)):
        if isinstance(items, list):
            for index in range(len(items)):
                origins.setdefault(f"{path}[{index}]", Origin(None, index))
    return merged, origins


def _merge_items(
    base: Any, own: list[Any], default_key: str, path: str, origins: dict[str, Origin]
) -> list[Any]:
    """Items of `own` merged by name into `base`'s, recording each item's origin."""
    items: list[Any] = list(base) if isinstance(base, list) else []
    sources: list[Origin] = [Origin(None, index) for index in range(len(items))]
    by_name = {_name(item, default_key): index for index, item in enumerate(items)}
    for at, item in enumerate(own):
        name = _name(item, default_key)
        index = by_name.get(name) if name is not None else None
        if index is None or not isinstance(item, dict):
            items.append(item)
            sources.append(Origin(at, None))
            continue
        inherited = items[index]
        same_kind = default_key != "kind" or item.get(
            "kind", inherited.get("kind")
        ) == inherited.get("kind")
        items[index] = {**inherited, **item} if same_kind else item
        sources[index] = Origin(at, sources[index].base if same_kind else None)
    for index, origin in enumerate(sources):
        origins[f"{path}[{index}]"] = origin
    return items


def _name(item: Any, default_key: str) -> str | None:
    if not isinstance(item, dict):
        return None
    name = item.get("name") or item.get(default_key)
    return name if isinstance(name, str) else None
