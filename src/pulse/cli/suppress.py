"""`pulse suppress add|remove|list`: the suppression list the guardrails consult.

`add [--channel C]... CONTACT...` suppresses the contacts on the channels (default
`all`: every channel); their next triggers are still written, with decision
`suppressed` and reason `suppression_list`. `remove [--channel C]... CONTACT...`
lifts the channels named (no `--channel`: every suppression of the contacts).
`list` prints every entry, `contact<TAB>channels`, or JSON with `--json`.
Redis options as `pulse privacy` and `pulse explain`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec

from pulse.cli.privacy import add_state_options, state_url
from pulse.errors import ConfigError

__all__ = ["HELP", "register"]

HELP = "add, remove or list contacts on the suppression list (per channel or all)"


def register(commands: Any) -> None:
    """Add `suppress add`, `suppress remove` and `suppress list`."""
    suppress = commands.add_parser("suppress", help=HELP, description=__doc__)
    actions = suppress.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="suppress contacts (default: on every channel)")
    remove = actions.add_parser("remove", help="lift suppressions (default: all of them)")
    listing = actions.add_parser("list", help="print the suppression list")
    for parser in (add, remove):
        parser.add_argument("contacts", nargs="+", metavar="CONTACT")
        parser.add_argument(
            "--channel", action="append", metavar="CHANNEL",
            help="email, sms, push, crm, web, ... or `all` (repeatable; default: all)",
        )  # fmt: skip
    listing.add_argument("--json", action="store_true", help="print a JSON object")
    for parser in (add, remove, listing):
        add_state_options(parser)
    add.set_defaults(func=_add)
    remove.set_defaults(func=_remove)
    listing.set_defaults(func=_list)


def _suppression(url: str, prefix: str) -> Any:
    from pulse.state import connect, layout_for
    from pulse.state.suppression import SuppressionList

    client = connect(url)
    return SuppressionList(client, layout_for(client, prefix))


def _channels(args: argparse.Namespace) -> list[str]:
    channels = [c.strip() for c in args.channel or ["all"]]
    bad = [c for c in channels if not c or "," in c or c == "--"]
    if bad:
        raise ConfigError(f"`--channel {bad[0]!r}`: expected a channel name such as `email`")
    return channels


def _add(args: argparse.Namespace) -> int:
    channels = _channels(args)
    with state_url(args) as url:
        changed = _suppression(url, args.prefix).add(args.contacts, channels)
    print(f"suppressed {len(args.contacts)} contact(s) on {', '.join(channels)} "
          f"({changed} entr{'y' if changed == 1 else 'ies'} changed)")  # fmt: skip
    return 0


def _remove(args: argparse.Namespace) -> int:
    with state_url(args) as url:
        suppression = _suppression(url, args.prefix)
        if args.channel:
            changed = suppression.remove(args.contacts, _channels(args))
        else:
            changed = suppression.clear(args.contacts)
    print(f"lifted suppressions of {len(args.contacts)} contact(s) "
          f"({changed} entr{'y' if changed == 1 else 'ies'} changed)")  # fmt: skip
    return 0


def _list(args: argparse.Namespace) -> int:
    with state_url(args) as url:
        entries = _suppression(url, args.prefix).entries()
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(entries)) + b"\n")
        return 0
    for contact, channels in entries.items():
        print(f"{contact}\t{','.join(channels)}")
    return 0
