"""One settings model: a flag, else a `PULSE_*` variable, else the config file, else the default.

`SETTINGS` is the one table of what `pulse run` and `pulse replay` (and the flow under
`python -m bytewax.run`, which has no flags) can be configured with; the README's
"Settings" table is this table. `resolve` fills every setting a flag left unset, from
the environment, then from the config file (`--config FILE`, else `PULSE_CONFIG`: TOML,
or YAML by its `.yaml`/`.yml` suffix), then from its default. Every problem (an unknown
key in the file, a value of the wrong type, in the file or in a variable) is collected
and raised together as one `ConfigError`: nothing falls back silently to a default.

An environment variable set to the empty string counts as unset.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from pulse.errors import ConfigError
from pulse.suggest import did_you_mean
from pulse.times import parse_time

__all__ = [
    "CONFIG_ENV",
    "SETTINGS",
    "Setting",
    "Source",
    "load_file",
    "log_settings",
    "resolve",
    "resolve_values",
]

CONFIG_ENV = "PULSE_CONFIG"
"""The config file when `--config` is not given."""

Source = Literal["flag", "env", "file", "default"]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError("a string")
    return raw


def _positive_int(raw: object) -> int:
    """A whole number >= 1 (text from a variable, an integer from a file).

    >>> _positive_int("1000"), _positive_int(7)
    (1000, 7)
    """
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise ValueError("a whole number >= 1")
    return raw


def _seconds(*, allow_zero: bool) -> Callable[[object], float]:
    expected = f"a number of seconds {'>= 0' if allow_zero else '> 0'}"

    def parse(raw: object) -> float:
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise ValueError(expected) from None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError(expected)
        value = float(raw)
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            raise ValueError(expected)
        return value

    return parse


def _port(raw: object) -> int:
    """A TCP port, 0..65535.

    >>> _port("9100")
    9100
    """
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 65535:
        raise ValueError("a port number 0..65535")
    return raw


def _choice(*choices: str, upper: bool = False) -> Callable[[object], str]:
    expected = "one of " + ", ".join(f"`{c}`" for c in choices)

    def parse(raw: object) -> str:
        if not isinstance(raw, str):
            raise ValueError(expected)
        value = raw.strip().upper() if upper else raw.strip().lower()
        if value not in choices:
            raise ValueError(expected)
        return value

    return parse


def _time(raw: object) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise ValueError("a time: ISO-8601, epoch ms, `now-1d` or `+2h`")
    try:
        parse_time(raw, base_ms=0, now_ms=0)
    except ValueError:
        raise ValueError("a time: ISO-8601, epoch ms, `now-1d` or `+2h`") from None
    return raw


def _share(raw: object) -> float:
    """A share of the input, 0..1 (text from a variable, a number from a file).

    >>> _share("0.5"), _share(1)
    (0.5, 1.0)
    """
    if isinstance(raw, str):
        try:
            raw = float(raw)
        except ValueError:
            raise ValueError("a share between 0 and 1") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 <= raw <= 1:
        raise ValueError("a share between 0 and 1")
    return float(raw)


INPUT_FORMATS = ("auto", "pulse", "segment", "ga4", "snowplow")
"""The values of `--format` (`pulse.connectors.formats.FORMATS`)."""


class Setting(msgspec.Struct, frozen=True, kw_only=True):
    """One setting: where it can be given, its default, and how its value is read."""

    key: str
    """Key in the config file, and the attribute of the parsed options."""
    flag: str
    env: str
    default: Any
    default_text: str
    meaning: str
    parse: Callable[[object], Any]
    commands: tuple[str, ...] = ("run", "replay", "flow")
    """Where it applies: `run`, `replay`, `flow` (`python -m bytewax.run`), `log` (every
    command)."""


def _default_rules() -> str:
    from pulse.rules import default_rules_path

    return str(default_rules_path())


SETTINGS: tuple[Setting, ...] = (
    Setting(
        key="rules",
        flag="--rules",
        env="PULSE_RULES",
        default=None,
        default_text="the default pack",
        meaning="rules file",
        parse=_text,
    ),
    Setting(
        key="redis_url",
        flag="--redis-url",
        env="PULSE_REDIS_URL",
        default=None,
        default_text="a private `redis-server` for the run",
        meaning="Redis that holds the state (a password in the flag shows in `ps`)",
        parse=_text,
    ),
    Setting(
        key="prefix",
        flag="--prefix",
        env="PULSE_PREFIX",
        default="pulse",
        default_text="`pulse`",
        meaning="prefix of every Redis key",
        parse=_text,
    ),
    Setting(
        key="triggers",
        flag="--triggers",
        env="PULSE_TRIGGERS",
        default=None,
        default_text="none",
        meaning="also append triggers to this JSONL file",
        parse=_text,
    ),
    Setting(
        key="dead_letters",
        flag="--dead-letters",
        env="PULSE_DEAD_LETTERS",
        default="out/dead_letters.jsonl",
        default_text="`out/dead_letters.jsonl`",
        meaning="where rejected input goes (`''` in the flag or file: standard error)",
        parse=_text,
    ),
    Setting(
        key="input_format",
        flag="--format",
        env="PULSE_INPUT_FORMAT",
        default="auto",
        default_text="`auto`",
        meaning="layout of the input lines: `auto` (detected per line), `pulse`, `segment`, "
        "`ga4`, `snowplow` (README, Input formats)",
        parse=_choice(*INPUT_FORMATS),
    ),
    Setting(
        key="max_rejected_share",
        flag="--max-rejected-share",
        env="PULSE_MAX_REJECTED_SHARE",
        default=0.5,
        default_text="0.5",
        meaning="a run whose input lines are dead-lettered over this share exits with status 3 "
        "and counts per reason (1: never)",
        parse=_share,
        commands=("run", "replay"),
    ),
    Setting(
        key="batch_size",
        flag="--batch-size",
        env="PULSE_BATCH_SIZE",
        default=1000,
        default_text="1000",
        meaning="events per source batch",
        parse=_positive_int,
    ),
    Setting(
        key="until",
        flag="--until",
        env="PULSE_UNTIL",
        default=None,
        default_text="none",
        meaning="at end of input, advance event time to this time (fires timers)",
        parse=_time,
    ),
    Setting(
        key="redis_retry_s",
        flag="--redis-retry-s",
        env="PULSE_REDIS_RETRY_S",
        default=None,
        default_text="60",
        meaning="seconds an unreachable Redis is retried before exit 2",
        parse=_seconds(allow_zero=True),
    ),
    Setting(
        key="reload_poll",
        flag="--reload-poll",
        env="PULSE_RELOAD_POLL_S",
        default=1.0,
        default_text="1",
        meaning="seconds between looks at the rules file (0: on SIGHUP only)",
        parse=_seconds(allow_zero=True),
        commands=("run", "flow"),
    ),
    Setting(
        key="metrics_port",
        flag="--metrics-port",
        env="PULSE_METRICS_PORT",
        default=None,
        default_text="none",
        meaning="serve `/metrics`, `/healthz`, `/readyz` on this port",
        parse=_port,
    ),
    Setting(
        key="ready_watermark_s",
        flag="--ready-watermark-s",
        env="PULSE_READY_WATERMARK_S",
        default=None,
        default_text="60",
        meaning="a live run is ready while a watermark moved within this many seconds",
        parse=_seconds(allow_zero=False),
    ),
    Setting(
        key="log_level",
        flag="--log-level",
        env="PULSE_LOG_LEVEL",
        default="WARNING",
        default_text="`WARNING`",
        meaning="least severe log level shown",
        parse=_choice(*LOG_LEVELS, upper=True),
        commands=("run", "replay", "flow", "log"),
    ),
    Setting(
        key="log_format",
        flag="--log-format",
        env="PULSE_LOG_FORMAT",
        default="text",
        default_text="`text`",
        meaning="`json`: one JSON object per log line (`ts`, `level`, `logger`, `message`)",
        parse=_choice("text", "json"),
        commands=("run", "replay", "flow", "log"),
    ),
)
"""Every setting, in the README's order."""


def load_file(path: str) -> dict[str, Any]:
    """The top-level table of a TOML or YAML config file; `ConfigError` when unreadable."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file `{path}`: {exc.strerror}") from None
    try:
        if path.endswith((".yaml", ".yml")):
            loaded = yaml.safe_load(data) or {}
        else:
            loaded = tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: Expected a table of settings, got `{type(loaded).__name__}`")
    return loaded


def resolve_values(
    command: str,
    given: Mapping[str, Any],
    environ: Mapping[str, str],
    config_path: str | None,
) -> tuple[dict[str, Any], dict[str, Source]]:
    """The value and source of every setting of `command`.

    `given` holds the flags given (a key missing or `None`: not given). Raises one
    `ConfigError` listing every problem.

    >>> values, sources = resolve_values("replay", {"prefix": "a"}, {"PULSE_BATCH_SIZE": "5"}, None)
    >>> values["prefix"], sources["prefix"], values["batch_size"], sources["batch_size"]
    ('a', 'flag', 5, 'env')
    >>> resolve_values("replay", {}, {"PULSE_BATCH_SIZE": "0", "PULSE_LOG_FORMAT": "xml"}, None)
    Traceback (most recent call last):
    pulse.errors.ConfigError: invalid settings:
      `PULSE_BATCH_SIZE`: Expected a whole number >= 1, got `0`
      `PULSE_LOG_FORMAT`: Expected one of `text`, `json`, got `xml`
    """
    problems: list[str] = []
    path = config_path or environ.get(CONFIG_ENV) or None
    table: dict[str, Any] = {}
    if path:
        try:
            table = load_file(path)
        except ConfigError as exc:
            problems.append(str(exc))
    known = {s.key for s in SETTINGS}
    for key in table:
        if key not in known:
            problems.append(f"{path}: unknown setting `{key}`{did_you_mean(str(key), known)}")
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for setting in SETTINGS:
        if command not in setting.commands:
            continue
        flagged = given.get(setting.key)
        if flagged is not None:
            values[setting.key], sources[setting.key] = flagged, "flag"
            continue
        raw: object
        source: Source
        if environ.get(setting.env):
            where, raw, source = f"`{setting.env}`", environ[setting.env], "env"
        elif setting.key in table:
            where, raw, source = f"{path}", table[setting.key], "file"
        else:
            values[setting.key], sources[setting.key] = setting.default, "default"
            continue
        try:
            values[setting.key], sources[setting.key] = setting.parse(raw), source
        except ValueError as exc:
            shown = raw if isinstance(raw, str) else msgspec.json.encode(raw).decode()
            at = f" - at `$.{setting.key}`" if source == "file" else ""
            problems.append(f"{where}: Expected {exc}, got `{shown}`{at}")
    if problems:
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems))
    if values.get("rules") is None and "rules" in values:
        values["rules"] = _default_rules()
    return values, sources


def resolve(command: str, args: Any, environ: Mapping[str, str]) -> None:
    """Fill the settings of `command` that no flag gave into the parsed options `args`.

    `args.config` names the config file (else `PULSE_CONFIG`); `args.setting_sources`
    records where each value came from (`flag`, `env`, `file`, `default`).
    """
    given = {s.key: getattr(args, s.key, None) for s in SETTINGS}
    values, sources = resolve_values(command, given, environ, getattr(args, "config", None))
    if getattr(args, "redis_url_file", None) and sources.get("redis_url") != "flag":
        # `--redis-url-file` is a flag: it outranks a URL from the environment or the file.
        values["redis_url"], sources["redis_url"] = None, "flag"
    for key, value in values.items():
        setattr(args, key, value)
    args.setting_sources = sources


def log_settings(environ: Mapping[str, str]) -> tuple[str, str]:
    """`(log_level, log_format)` from `PULSE_LOG_LEVEL` and `PULSE_LOG_FORMAT`, else the
    `PULSE_CONFIG` file: for the commands other than `run` and `replay`.

    >>> log_settings({"PULSE_LOG_FORMAT": "JSON"})
    ('WARNING', 'json')
    """
    values, _ = resolve_values("log", {}, environ, None)
    return values["log_level"], values["log_format"]
