"""`pulse rules-doc`: write the rules reference, or check the committed one is current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

DEFAULT_PATH = Path("docs/rules-reference.md")


def register(commands: Any) -> None:
    """Add `rules-doc`."""
    doc = commands.add_parser("rules-doc", help="generate the rules reference from the schema")
    doc.add_argument("-o", "--output", default=str(DEFAULT_PATH), help="file to write (- stdout)")
    doc.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from the generated one"
    )
    doc.add_argument(
        "--json-schema",
        metavar="FILE",
        help="write the rules file's JSON Schema to FILE instead (- stdout), for editors",
    )
    doc.set_defaults(func=_rules_doc)


def _rules_doc(args: argparse.Namespace) -> int:
    if args.json_schema:
        return _json_schema(args.json_schema)
    from pulse.rulesdoc import missing_descriptions, render_reference

    missing = missing_descriptions()
    if missing:
        names = ", ".join(f"`{name}`" for name in missing)
        print(f"pulse: fields without a description: {names}", file=sys.stderr)
        return 1
    text = render_reference()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"pulse: {path} is out of date: run `pulse rules-doc -o {path}`", file=sys.stderr)
            return 1
        print(f"{path}: up to date")
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"pulse: wrote {path}", file=sys.stderr)
    return 0


def _json_schema(output: str) -> int:
    import json

    from pulse.rules.jsonschema import rules_json_schema

    text = json.dumps(rules_json_schema(), indent=2) + "\n"
    if output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"pulse: wrote {path}", file=sys.stderr)
    return 0
