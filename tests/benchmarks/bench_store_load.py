"""Load benchmark: N comparisons through the fake judge into a DuckDB store.

Reports wall time, store insert rates and peak memory (RSS). Each size runs in a fresh
subprocess, so the peak RSS of one size is not inflated by another.

Usage: python tests/benchmarks/bench_store_load.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = 10  # 45 pairs per prompt


def run_one(comparisons: int) -> dict[str, float]:
    import pandas as pd

    import judgekit

    prompts = -(-comparisons // (MODELS * (MODELS - 1) // 2))
    frame = pd.DataFrame(
        [
            {
                "prompt_id": f"p{p}",
                "prompt": f"Prompt {p}: explain item {p} briefly.",
                "model": f"m{m}",
                "output": f"Answer to {p} by m{m}. " * (1 + (p + m) % 4),
            }
            for p in range(prompts)
            for m in range(MODELS)
        ]
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "load.duckdb"
        t0 = time.perf_counter()
        result = judgekit.compare([frame], judge="fake/hash", db=db, bootstrap=100)
        wall = time.perf_counter() - t0
        size_mb = db.stat().st_size / 2**20
    stats = result.stats
    rows = stats["judge_calls_made"] + 2 * stats["comparisons"] + stats["comparisons"]
    return {
        "comparisons": stats["comparisons"],
        "judge_calls": stats["judge_calls_made"],
        "wall_s": wall,
        "judging_s": stats["judging_seconds"],
        "rows_per_s": rows / wall,
        "calls_per_s": stats["judge_calls_made"] / stats["judging_seconds"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "db_mb": size_mb,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one)))
        return
    results = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--one", str(size)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\njudgekit bench_store_load · fake/hash judge · {os.cpu_count()} cores\n")
    header = (
        f"{'comparisons':>12} {'judge calls':>12} {'wall s':>8} {'calls/s':>9} "
        f"{'rows/s':>9} {'peak RSS MB':>12} {'db MB':>7}"
    )
    print(header)
    for r in results:
        print(
            f"{r['comparisons']:>12.0f} {r['judge_calls']:>12.0f} {r['wall_s']:>8.1f} "
            f"{r['calls_per_s']:>9.0f} {r['rows_per_s']:>9.0f} {r['peak_rss_mb']:>12.0f} "
            f"{r['db_mb']:>7.1f}"
        )


if __name__ == "__main__":
    main()
