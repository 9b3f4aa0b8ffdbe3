"""`pip install` of the built wheel works without the repository: the default rules
pack and the docs are inside the package, and the `pulse` command runs from elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "PYTHON"))}
    proc = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"{command}: {proc.stdout}{proc.stderr}"
    return proc


def test_the_wheel_installs_and_runs_outside_the_repository(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    # No build isolation: hatchling comes from the dev extra, nothing from the network.
    _run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-w", str(wheels), "-q"],
        tmp_path,
    )  # fmt: skip
    (wheel,) = wheels.glob("pulse_leads-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    purelib = Path(
        _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
             tmp_path).stdout.strip()
    )  # fmt: skip
    # The dependencies come from this environment (offline); a plain path line in a .pth
    # adds its directory without running its .pth files, so the editable checkout of
    # pulse stays out and the wheel's copy is the one imported.
    (purelib / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        tmp_path,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "import pulse, importlib.resources as r\n"
        "from pulse.rules import default_rules_path, load_rules\n"
        "load_rules(default_rules_path())\n"
        "print(pulse.__file__); print(default_rules_path())\n"
        "docs = r.files('pulse') / '_data' / 'docs'\n"
        "names = ('README.md', 'rules-reference.md', 'input-formats.md')\n"
        "assert all((docs / name).is_file() for name in names)\n"
    )
    module, rules = _run([str(python), "-c", probe], elsewhere).stdout.split()
    assert Path(module).is_relative_to(venv) and Path(rules).is_relative_to(venv)
    assert rules.endswith("pulse/_data/default.yaml")
    pulse = str(venv / "bin" / "pulse")
    _run([pulse, "check", rules], elsewhere)
    _run([pulse, "generate", "--events", "100", "-o", "x.jsonl"], elsewhere)
    assert len((elsewhere / "x.jsonl").read_text().splitlines()) == 100
