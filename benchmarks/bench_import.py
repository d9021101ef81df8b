"""Time added by ``import cleanframe`` on top of ``import pandas, polars`` (fresh processes).

Usage: .venv/bin/python benchmarks/bench_import.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CODE = (
    "import time; t0 = time.perf_counter(); import pandas, polars; t1 = time.perf_counter(); "
    "import cleanframe; t2 = time.perf_counter(); import sys; "
    "heavy = [m for m in ('pandera', 'sklearn', 'matplotlib', 'tqdm', 'scipy.stats') "
    "if m in sys.modules]; "
    "print(t1 - t0, t2 - t1, ','.join(heavy) or '-')"
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    ns = parser.parse_args()
    base, extra = [], []
    for _ in range(ns.runs):
        out = subprocess.run(
            [sys.executable, "-c", CODE], capture_output=True, text=True, check=True
        )
        a, b, heavy = out.stdout.split()
        base.append(float(a))
        extra.append(float(b))
    print(f"import pandas, polars: median {statistics.median(base):.3f} s")
    print(
        f"import cleanframe on top: median {statistics.median(extra):.3f} s, "
        f"max {max(extra):.3f} s (target <= 0.15 s); heavy modules loaded: {heavy}"
    )


if __name__ == "__main__":
    main()
