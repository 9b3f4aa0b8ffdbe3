"""Several worker processes for one run: `pulse run --workers N`, `pulse replay --workers N`.

The parent process starts (or is given) the Redis, then N children of the same
command, each with the internal option `--part i/N`. Every child reads the whole
input and keeps the events of the contacts whose key hashes to its part
(`pulse.config.Part`); the events of other parts only move its watermark, so each
part's watermark, and with it the timers it fires, is the one a single process
would have. A part has its own source partition (`files/0-of-2`), hence its own
timer index, and its own position streams (`file:...#...@0-of-2`), so a replay
recognises what each part already applied. Only part 0 keeps the dead letters of
lines that do not decode: they belong to no contact.

The parent waits for every child and prints the summary: counters and stages are
read back from Redis, where the children committed them. When a child fails, the
others are stopped (SIGTERM: a clean shutdown) and the parent exits with the
failed child's status. A stop signal to the parent is passed on to the children.

The split is by contact key, so an anonymous id and the contact it identifies as
may land in different parts: every part reads anonymous events and identifies too,
and the anonymous id's part hands its state to the contact's part, which merges it
as one process would (`pulse.handoff`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator

from pulse.config import Part, RunConfig
from pulse.connectors.files import file_stream_id
from pulse.connectors.generated import GeneratedSource
from pulse.errors import ConfigError
from pulse.metrics import serve_workers
from pulse.redis_server import free_port
from pulse.report import RunReport
from pulse.state import ContactStore, connect, layout_for

__all__ = ["check_split", "child_argv", "run_workers"]

_POLL_S = 0.2
_METRICS_PORT_ENV = "PULSE_METRICS_PORT"
_STOP_WAIT_S = 60.0
"""How long a child stopped by SIGTERM may take to shut down cleanly before SIGKILL."""
_NOT_PASSED = frozenset(
    {"help", "workers", "part", "sort", "redis_url", "redis_url_file", "metrics_port"}
)
"""Options the parent handles itself: the children get the Redis URL by environment
(a password in argv shows in `ps`), the already sorted input, and a metrics port each."""


def child_argv(
    command: str, parser: argparse.ArgumentParser, args: argparse.Namespace, part: Part
) -> list[str]:
    """The command line of the child running `part`: the parsed options, written back.

    Only options that differ from their default are written; positionals come last.

    >>> parser = argparse.ArgumentParser()
    >>> _ = parser.add_argument("file")
    >>> _ = parser.add_argument("--until")
    >>> _ = parser.add_argument("--show", action="store_true")
    >>> _ = parser.add_argument("-i", "--input", action="append", default=[])
    >>> _ = parser.add_argument("--workers", type=int, default=1)
    >>> args = parser.parse_args(["e.jsonl", "--show", "-i", "a", "--workers", "2"])
    >>> child_argv("replay", parser, args, Part(1, 2))
    ['replay', '--show', '--input', 'a', '--part', '1/2', '--', 'e.jsonl']
    """
    options: list[str] = []
    positionals: list[str] = []
    for action in parser._actions:  # argparse has no public list of a parser's options
        if action.dest in _NOT_PASSED or action.dest is argparse.SUPPRESS:
            continue
        value = getattr(args, action.dest, action.default)
        if not action.option_strings:
            positionals.append(str(value))
            continue
        if value is None or value == action.default:
            continue
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            options.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                options += [flag, str(item)]
        elif type(action) is argparse._StoreAction:
            options += [flag, str(value)]
        else:
            raise ConfigError(f"`{flag}` cannot be passed on to worker processes")
    options += ["--part", f"{part.index}/{part.count}"]
    return [command, *options, *(["--", *positionals] if positionals else [])]


def check_split(config: RunConfig, count: int) -> None:
    """Refuse to replay input into a Redis that holds its positions under another split.

    Positions are per part: input applied by 2 processes is not recognised by 1, so
    replaying it with another `--workers` would apply every event a second time.
    """
    if config.kafka is not None:
        return
    if config.inputs:
        streams = {file_stream_id(p): p for p in config.inputs if p != "-"}
    else:
        streams = {GeneratedSource(config.generator, 0).stream: "the generated stream"}
    client = connect(config.redis_url, retry_s=config.redis_retry_s)
    try:
        keys = client.hkeys(layout_for(client, config.prefix).positions)
        committed = [k.decode() if isinstance(k, bytes) else str(k) for k in keys]
    finally:
        client.close()
    for stream, name in streams.items():
        for key in committed:
            if key != stream and not key.startswith(stream + "@"):
                continue
            split = key.rpartition("-of-")[2] if key != stream else "1"
            if split != str(count):
                raise ConfigError(
                    f"`{name}` was already run into this Redis (prefix `{config.prefix}`) "
                    f"with `--workers {split}`: run it again with `--workers {split}` "
                    f"(positions are per worker process), or use another `--prefix`"
                )


def run_workers(
    command: str,
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    config: RunConfig,
    report: RunReport,
    metrics_port: int | None = None,
) -> int:
    """Run `args.workers` children of `command` on `config`'s Redis; print the summary.

    With `metrics_port`, each child serves its metrics on a loopback port of its own and
    the parent serves them all, labelled by worker, on `metrics_port`.
    Returns 0, or the exit status of the first child that failed.
    """
    count: int = args.workers
    check_split(config, count)
    client = connect(config.redis_url, retry_s=config.redis_retry_s)
    store = ContactStore(client, layout_for(client, config.prefix))
    before, _ = store.counts()
    env = dict(os.environ, PULSE_REDIS_URL=config.redis_url)
    env.pop(_METRICS_PORT_ENV, None)  # the parent's port: each child gets its own below
    ports = [free_port() for _ in range(count)] if metrics_port is not None else []
    process_id = os.environ.get("PULSE_PROCESS_ID", "0")
    with report, contextlib.ExitStack() as stack:
        if metrics_port is not None:
            server = stack.enter_context(serve_workers(ports, metrics_port))
            print(f"pulse: metrics of all workers on port {server.port}", file=sys.stderr)
        children = []
        for index in range(count):
            argv = child_argv(command, parser, args, Part(index, count))
            # Distinct names: each child is its own candidate for the trainer lease.
            env["PULSE_PROCESS_ID"] = f"{process_id}.{index}"
            if ports:
                env[_METRICS_PORT_ENV] = str(ports[index])
            children.append(
                subprocess.Popen([sys.executable, "-m", "pulse.cli", *argv], env=env.copy())
            )
        with _stopping(children):
            status = _supervise(children, store, before, report)
    if status != 0:
        return status
    report.collect(store)
    report.totals.subtract(before)
    report.events = sum(report.totals.get(k, 0) for k in ("events", "duplicates", "replayed"))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    report.workers = count
    report.cpu_s = usage.ru_utime + usage.ru_stime
    report.peak_mb = usage.ru_maxrss / 1024
    report.print_summary()
    return 0


def _supervise(
    children: list[subprocess.Popen[bytes]],
    store: ContactStore,
    before: dict[str, int],
    report: RunReport,
) -> int:
    """Wait for every child; at the first failure stop the rest and return its status."""
    while True:
        statuses = [child.poll() for child in children]
        for index, status in enumerate(statuses):
            if status is not None and status != 0:
                code = 128 - status if status < 0 else status  # killed by a signal
                print(
                    f"pulse: worker process {index} of {len(children)} failed "
                    f"(exit status {code}); stopping the others",
                    file=sys.stderr,
                )
                return code
        if all(status == 0 for status in statuses):
            return 0
        report.show_progress(_processed(store, before))
        time.sleep(_POLL_S)


def _processed(store: ContactStore, before: dict[str, int]) -> int:
    """Events the children committed so far (applied, duplicate or already applied)."""
    counts, _ = store.counts()
    return sum(counts.get(k, 0) - before.get(k, 0) for k in ("events", "duplicates", "replayed"))


@contextlib.contextmanager
def _stopping(children: Iterable[subprocess.Popen[bytes]]) -> Iterator[None]:
    """On the way out (done, failed, or stopped by a signal), stop and reap every child."""
    try:
        yield
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
