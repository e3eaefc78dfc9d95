"""The code stays ruff-clean and type-checks, as the style guide asks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "gembatch", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "gembatch"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_hold() -> None:
    """pyproject.toml's contracts: no Textual below the screen, no API client in it."""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    command = [str(lint_imports)] if lint_imports.exists() else ["lint-imports"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_only_the_clock_module_reads_the_time_of_day() -> None:
    """Everything shown or decided by the time goes through `gembatch.clock` (the
    simulator keeps its own scripted time), so tests can freeze and move it."""
    readers = re.compile(r"time\.time\(\)|datetime\.now\(|datetime\.utcnow\(|date\.today\(")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "gembatch").rglob("*.py"))
        if path.name != "clock.py" and "simulator" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if readers.search(line)
    ]
    assert found == []
