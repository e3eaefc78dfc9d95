"""Every benchmark, one after the other, each with its defaults; stops at the first
that fails (a benchmark that errors is not a fast one).

    python benchmarks/all.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = (
    "startup.py",
    "poll_cycle.py",
    "scale.py",
    "status.py",
    "restart.py",
    "first_frame.py",
    "export_and_inputs.py",
    "upload_memory.py",
    "jobfile.py",
    "download.py",
    "monitor.py",
    "monitor_idle.py",
    "library.py",
    "media.py",
)


def main() -> int:
    here = Path(__file__).resolve().parent
    for script in SCRIPTS:
        print(f"\n=== {script}", flush=True)
        code = subprocess.run([sys.executable, str(here / script)], check=False).returncode
        if code != 0:
            print(f"{script} exited {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
