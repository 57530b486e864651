"""Benchmark the judging spine on the embedded judge (SmolLM2-135M-Instruct, CPU).

Measures, on the demo arena:

1. pairwise judgments per second in logprob mode (one forward pass per order);
2. the share of the judging phase's wall time spent inside the model forward;
3. the speed-up of logprob verdicts over generate-then-parse, on a subset;
4. the time of a fully cached re-run, and its number of model calls (goal: 0).

Usage: python tests/benchmarks/bench_judging.py [--prompts N] [--generate-pairs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd

import judgekit
from judgekit.judges.base import JudgeOptions
from judgekit.judges.hf import HFJudge

DEMO = Path(__file__).resolve().parents[2] / "arenas" / "demo" / "outputs"


def _subset(prompts: int) -> list[pd.DataFrame]:
    frames = [pd.read_json(p, lines=True) for p in sorted(DEMO.glob("*.jsonl"))]
    keep = sorted(frames[0]["prompt_id"].unique())[:prompts]
    return [f[f["prompt_id"].isin(keep)] for f in frames]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=20, help="demo prompts to judge")
    parser.add_argument("--generate-pairs", type=int, default=4, help="pairs for generate mode")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    started = time.perf_counter()
    judge = HFJudge("smollm2", options=JudgeOptions(batch_size=args.batch_size))
    load_s = time.perf_counter() - started
    outputs = _subset(args.prompts)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        judge.stats.reset()
        t0 = time.perf_counter()
        first = judgekit.compare(outputs, judge=judge, db=db, bootstrap=1000)
        wall = time.perf_counter() - t0
        judging = first.stats["judging_seconds"]
        n_judgments = first.stats["judge_calls_made"]
        forward = judge.stats.forward_s
        rows += [
            ("model load (cached conversion)", f"{load_s:.1f} s"),
            ("pairwise comparisons (x2 orders)", f"{first.stats['comparisons']}"),
            ("judge calls made (logprob verdicts)", f"{n_judgments}"),
            ("judging phase wall time", f"{judging:.2f} s"),
            ("whole compare() wall time", f"{wall:.2f} s"),
            ("per-order judgments / s", f"{n_judgments / judging:.2f}"),
            ("comparisons (both orders) / s", f"{first.stats['comparisons'] / judging:.2f}"),
            ("time inside model forward", f"{forward:.2f} s"),
            ("forward share of judging phase", f"{forward / judging:.1%}"),
            ("forward share of judge() calls", f"{judge.stats.forward_share:.1%}"),
        ]

        judge.stats.reset()
        t0 = time.perf_counter()
        again = judgekit.compare(outputs, judge=judge, db=db, bootstrap=1000)
        cached_s = time.perf_counter() - t0
        rows += [
            ("cached re-run wall time", f"{cached_s:.2f} s"),
            ("cached re-run model calls", f"{judge.stats.n_requests}"),
            ("cached re-run judge calls made", f"{again.stats['judge_calls_made']}"),
        ]

        pairs = first.outcomes.head(args.generate_pairs)
        keep = set(pairs["prompt_id"])
        sub = [f[f["prompt_id"].isin(keep)] for f in outputs]
        t0 = time.perf_counter()
        lp = judgekit.compare(sub, judge=judge, db=":memory:", bootstrap=0)
        lp_per = (time.perf_counter() - t0) / lp.stats["judge_calls_made"]
        t0 = time.perf_counter()
        gen = judgekit.compare(sub, judge=judge, db=":memory:", bootstrap=0, verdict="generate")
        gen_per = (time.perf_counter() - t0) / gen.stats["judge_calls_made"]
        rows += [
            ("generate-mode judge calls (subset)", f"{gen.stats['judge_calls_made']}"),
            ("generate-mode parse failures", f"{gen.stats['parse_failures']}"),
            ("seconds per judgment: logprobs", f"{lp_per:.3f} s"),
            ("seconds per judgment: generate", f"{gen_per:.3f} s"),
            ("speed-up of logprob verdicts", f"{gen_per / lp_per:.1f}x"),
        ]

    print(
        f"\njudgekit bench_judging · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} cores · batch size {args.batch_size}\n"
    )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value:>12}")
    print("\nleaderboard of the benchmark run:")
    print(first.leaderboard.to_string(index=False))


if __name__ == "__main__":
    main()
