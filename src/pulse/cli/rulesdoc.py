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
    doc.set_defaults(func=_rules_doc)


def _rules_doc(args: argparse.Namespace) -> int:
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
