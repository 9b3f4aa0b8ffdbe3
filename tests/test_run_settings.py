"""The settings model: precedence, and every problem of a file or variable listed at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from pulse.cli import main
from pulse.errors import ConfigError
from pulse.settings import SETTINGS, resolve_values


def test_flag_outranks_variable_outranks_file_outranks_default(tmp_path: Path) -> None:
    config = tmp_path / "pulse.toml"
    config.write_text('prefix = "file"\nbatch_size = 10\ntriggers = "file.jsonl"\n')
    env = {"PULSE_PREFIX": "env", "PULSE_BATCH_SIZE": "20"}
    values, sources = resolve_values("replay", {"prefix": "flag"}, env, str(config))
    assert (values["prefix"], sources["prefix"]) == ("flag", "flag")
    assert (values["batch_size"], sources["batch_size"]) == (20, "env")
    assert (values["triggers"], sources["triggers"]) == ("file.jsonl", "file")
    assert (values["dead_letters"], sources["dead_letters"]) == (
        "out/dead_letters.jsonl",
        "default",
    )


def test_pulse_config_names_the_file_when_no_flag_does(tmp_path: Path) -> None:
    config = tmp_path / "pulse.yml"
    config.write_text("prefix: from-yaml\nlog_format: json\n")
    values, _ = resolve_values("replay", {}, {"PULSE_CONFIG": str(config)}, None)
    assert (values["prefix"], values["log_format"]) == ("from-yaml", "json")


def test_every_problem_of_the_file_and_the_environment_is_listed(tmp_path: Path) -> None:
    config = tmp_path / "pulse.toml"
    config.write_text('bach_size = 5\nprefix = 3\nmetrics_port = 70000\nlog_level = "loud"\n')
    with pytest.raises(ConfigError) as caught:
        resolve_values("replay", {}, {"PULSE_REDIS_RETRY_S": "-1"}, str(config))
    assert str(caught.value).splitlines()[1:] == [
        f"  {config}: unknown setting `bach_size` (did you mean `batch_size`?)",
        f"  {config}: Expected a string, got `3` - at `$.prefix`",
        "  `PULSE_REDIS_RETRY_S`: Expected a number of seconds >= 0, got `-1`",
        f"  {config}: Expected a port number 0..65535, got `70000` - at `$.metrics_port`",
        f"  {config}: Expected one of `DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`, "
        "got `loud` - at `$.log_level`",
    ]


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "pulse.toml"
    config.write_text("prefix: yaml-in-a-toml-file\n")
    with pytest.raises(ConfigError, match=r"pulse\.toml: Expected '=' after a key"):
        resolve_values("replay", {}, {}, str(config))


def test_a_missing_config_file_is_refused_not_skipped(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file `.*nowhere\.toml`"):
        resolve_values("replay", {}, {}, str(tmp_path / "nowhere.toml"))


def test_replay_with_bad_settings_exits_2_listing_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text("")
    config = tmp_path / "pulse.toml"
    config.write_text("prefixx = 'p'\n")
    monkeypatch.setenv("PULSE_BATCH_SIZE", "many")
    assert main(["replay", str(events), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "unknown setting `prefixx` (did you mean `prefix`?)" in err
    assert "`PULSE_BATCH_SIZE`: Expected a whole number >= 1, got `many`" in err


def test_every_setting_has_a_distinct_flag_variable_and_key() -> None:
    for field in ("key", "flag", "env"):
        names = [getattr(s, field) for s in SETTINGS]
        assert len(names) == len(set(names)), field
    assert all(s.env == "PULSE_" + s.key.upper() or s.key == "reload_poll" for s in SETTINGS)


def test_the_readme_settings_table_lists_every_setting() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("## Settings") :]
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    for setting in SETTINGS:
        flag = f"`{setting.flag} "
        row = next((r for r in rows if flag in r), None)
        assert row is not None, setting.flag
        assert f"`{setting.env}`" in row and f"`{setting.key}`" in row, row
