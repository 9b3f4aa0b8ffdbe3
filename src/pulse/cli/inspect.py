"""`pulse inspect`: one contact's state, read from Redis."""

from __future__ import annotations

import argparse
from typing import Any

from pulse.events import parse_ts
from pulse.rules import default_rules_path, load_rules

__all__ = ["register"]


def register(commands: Any) -> None:
    """Add `inspect`."""
    inspect = commands.add_parser("inspect", help="show one contact's state from Redis")
    inspect.add_argument("contact", help="contact id (or anon:<anonymous_id>)")
    inspect.add_argument("--redis-url", required=True)
    inspect.add_argument("--prefix", default="pulse")
    inspect.add_argument("--rules", default=str(default_rules_path()))
    inspect.add_argument("--at", help="evaluate the score at this time (default: last event)")
    inspect.set_defaults(func=_inspect)


def _inspect(args: argparse.Namespace) -> int:
    from pulse.report import print_contact

    rules = load_rules(args.rules)
    at_ms = parse_ts(args.at) if args.at else None
    return print_contact(args.redis_url, args.prefix, args.contact, rules, at_ms)
