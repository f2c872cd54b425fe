"""The project-level checks a reviewer runs, as tests: the dg project loads, the package type-checks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_dg_check_defs_passes():
    result = subprocess.run(
        [str(BIN / "dg"), "check", "defs"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_mypy_is_clean_on_the_package():
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-5000:]
    assert "Success: no issues found" in result.stdout
