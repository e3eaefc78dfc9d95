"""Rules of the code that no linter knows. (Ruff, mypy and the import contracts run
beside the suite, not in it: `make lint`, the pre-commit hooks and `.ci/run`.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
