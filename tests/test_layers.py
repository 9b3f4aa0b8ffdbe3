"""The layers hold: the import contracts pass and a connector imports no model or Redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_of_pyproject_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """`[tool.importlinter]` in pyproject.toml: core pure, connectors below the engine, ..."""
    monkeypatch.chdir(ROOT)  # import-linter reads the pyproject.toml of the working directory
    status = lint_imports(no_cache=True, no_logo=True)
    assert status == 0, "an import contract is broken: run `lint-imports` for the chain"


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
