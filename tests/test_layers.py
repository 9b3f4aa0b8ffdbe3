"""The layers hold: the import contracts pass and a connector imports no model or Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_of_pyproject_are_kept() -> None:
    """`[tool.importlinter]` in pyproject.toml: core pure, connectors below the engine, ...

    In a process of its own: import-linter reconfigures logging where it runs.
    """
    code = "import sys, importlinter.cli as c; sys.exit(c.lint_imports(no_cache=True))"
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_importing_the_file_connector_loads_neither_river_nor_redis() -> None:
    code = (
        "import sys, pulse.connectors.files; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'river', 'redis', 'aiokafka'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_importing_the_state_seam_does_not_load_the_model() -> None:
    """river loads where a model is built (`load_model`), not with the Redis seam."""
    code = "import sys, pulse.state; print('river' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"
