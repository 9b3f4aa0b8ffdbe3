"""`pulse privacy export|delete CONTACT`: everything pulse holds about a person, or none of it.

`export` prints as JSON the contact's state (decoded), its aliases (anonymous ids
linked to it, either way), traits, pending timers (in the state and the timer
indexes) and the triggers about it on the trigger stream(s). `delete` removes
them (the trigger entries with `XDEL`), records a tombstone (a hash of each id,
never the id) so that a replay or a late event cannot bring the person back, and
prints a summary of what it deleted. Both read the Redis `pulse explain` reads:
`--redis-url`, `--redis-url-file`, `PULSE_REDIS_URL`, else the state the last
private run kept in `--state-dir` (default `.pulse/last-run`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import msgspec

from pulse.cli.explain import kept_state
from pulse.cli.options import REDIS_URL_ENV, redis_url
from pulse.errors import ConfigError
from pulse.redis_server import LAST_RUN_DIR

__all__ = ["HELP", "add_state_options", "register", "state_url"]

HELP = "export or delete everything pulse holds about a contact (with a tombstone)"


def register(commands: Any) -> None:
    """Add `privacy export` and `privacy delete`."""
    privacy = commands.add_parser("privacy", help=HELP, description=__doc__)
    actions = privacy.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="print as JSON everything held about CONTACT")
    delete = actions.add_parser(
        "delete", help="delete everything held about CONTACT and tombstone its ids"
    )
    for parser in (export, delete):
        parser.add_argument("contact", help="contact id (or anon:<anonymous_id>)")
        add_state_options(parser)
    export.set_defaults(func=_export)
    delete.set_defaults(func=_delete)


def add_state_options(parser: argparse.ArgumentParser) -> None:
    """Where the state is: the options of `pulse explain`, and `--redis-url-file`."""
    parser.add_argument(
        "--redis-url", metavar="URL",
        help=f"Redis that holds the state (default: {REDIS_URL_ENV}, else --state-dir)",
    )  # fmt: skip
    parser.add_argument(
        "--redis-url-file", metavar="FILE", help="read the Redis URL from this file"
    )
    parser.add_argument(
        "--state-dir", metavar="DIR",
        help=f"without a Redis URL: the state a run kept there (default {LAST_RUN_DIR})",
    )  # fmt: skip
    parser.add_argument("--prefix", default="pulse", help="key prefix (default: pulse)")


@contextlib.contextmanager
def state_url(args: argparse.Namespace) -> Iterator[str]:
    """The Redis URL the options name, or a server on the kept state directory."""
    url = redis_url(args)
    if url and args.state_dir:
        raise ConfigError("give `--redis-url` (or `--redis-url-file`) or `--state-dir`, not both")
    if url:
        yield url
        return
    with kept_state(argparse.Namespace(redis_url=None, state_dir=args.state_dir)) as kept:
        yield kept


def _privacy(url: str, prefix: str) -> Any:
    from pulse.state import connect, layout_for
    from pulse.state.privacy import Privacy

    client = connect(url)
    return Privacy(client, layout_for(client, prefix))


def _print(data: Any) -> None:
    sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(data)) + b"\n")


def _export(args: argparse.Namespace) -> int:
    with state_url(args) as url:
        found = _privacy(url, args.prefix).export(args.contact)
    if found is None:
        print(f"pulse: nothing held about `{args.contact}` under `{args.prefix}`", file=sys.stderr)
        return 1
    _print(found)
    return 0


def _delete(args: argparse.Namespace) -> int:
    with state_url(args) as url:
        summary = _privacy(url, args.prefix).delete(args.contact)
    _print(summary)
    return 0
