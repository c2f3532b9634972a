"""Run every benchmark script in this folder, one after the other.

Each ``bench_*.py`` prints its own table; this runner only sequences them so
that they do not compete for the two cores, starting with ``bench_speed.py``
(the speed table of the README, R alongside). Usage: ``make bench``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Run each benchmark and return non-zero if any of them failed."""
    here = Path(__file__).resolve().parent
    failed = []
    # the speed table first: the rows of the README's table, with their ratios
    scripts = sorted(here.glob("bench_*.py"), key=lambda p: (p.name != "bench_speed.py", p.name))
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
