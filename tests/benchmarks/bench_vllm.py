"""Benchmark the in-process vLLM judge against the hf judge on the same machine and arena.

Measures, on the demo arena (``arenas/demo/outputs/*.jsonl``, the pairs ``make demo`` judges:
``--schedule sample:3 --seed 0``, 20 prompts x 3 pairs x 2 orders = 120 judgments):

1. engine/model load time of each backend;
2. pairwise judgments per second in logprob mode (both orders of every pair), through
   ``compare()``, so that rendering, planning and the store are included as users see them;
3. vLLM's prefix-cache hit rate over that run (tokens found in the cache / prompt tokens
   looked up, from vLLM's own ``vllm:prefix_cache_*`` counters);
4. the largest |p_vllm - p_hf| over all verdicts (the two backends must agree).

Both backends get a short warm-up first (vLLM compiles its logprobs op on first use, about
15 s on 2 cores). Rounds alternate hf, vllm, hf, vllm so that load from other processes hits
both alike. The first vLLM round starts with a cold prefix cache; later rounds may find
blocks cached by earlier ones (as many as the KV cache still holds: 23k tokens with the
CPU default of 1 GiB, less than one demo run), so the table reports them apart.

Run from .venv-vllm (tests/vllm_setup/install.sh)::

    PYTHONPATH=$PWD .venv-vllm/bin/python tests/benchmarks/bench_vllm.py [--rounds 2]
    PYTHONPATH=$PWD .venv-vllm/bin/python tests/benchmarks/bench_vllm.py --skip-hf  # vLLM only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from judgekit.judges.base import JudgeOptions
from judgekit.judges.hf import HFJudge
from judgekit.judges.vllm import VLLMJudge
from judgekit.judges.vllm_engine import VLLMEngineOptions
from judgekit.protocols.fencing import FENCE_KEY_ENV
from judgekit.runs.compare import compare
from judgekit.runs.records import CompareResult
from judgekit.types import JudgeRequest, Message

DEMO = Path(__file__).resolve().parents[2] / "arenas" / "demo" / "outputs"


def load_arena(prompts: int | None) -> list[Path] | list[pd.DataFrame]:
    """The demo arena's files, or their first ``prompts`` prompts."""
    files = sorted(DEMO.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no demo outputs in {DEMO}")
    if prompts is None:
        return files
    frames = [pd.read_json(p, lines=True, dtype={"prompt_id": str}) for p in files]
    keep = sorted(frames[0]["prompt_id"].unique())[:prompts]
    return [f[f["prompt_id"].isin(keep)] for f in frames]


def warm_up(judge: Any) -> None:
    """One short choice request: compiles vLLM's logprobs op and warms hf's kernels.

    It is shorter than one KV block, so it leaves nothing in vLLM's prefix cache.
    """
    request = JudgeRequest(
        messages=(Message("user", "A or B?"),), choices=("A", "B"), assistant_prefix="Verdict:"
    )
    [response] = judge.judge([request])
    if response.status != "ok":
        raise SystemExit(f"warm-up failed on {judge.id}: {response.error}")


def run(
    judge: Any, outputs: list[Path] | list[pd.DataFrame], *, schedule: str, seed: int
) -> tuple[CompareResult, float]:
    with tempfile.TemporaryDirectory() as tmp:
        result = compare(
            outputs,
            judge=judge,
            db=Path(tmp) / "bench.duckdb",
            bootstrap=0,
            schedule=schedule,
            seed=seed,
        )
    calls = result.stats["judge_calls_made"]
    if result.stats["judge_calls_failed"]:
        raise SystemExit(f"{judge.id}: {result.stats['judge_calls_failed']} judge calls failed")
    return result, calls / result.stats["judging_seconds"]


def max_diff(a: CompareResult, b: CompareResult) -> float:
    keys = ["prompt_id", "model_a", "model_b", "position_order"]
    merged = a.verdicts.merge(b.verdicts, on=keys, suffixes=("_a", "_b"))
    return float(
        max(
            (merged[f"{c}_a"] - merged[f"{c}_b"]).abs().max()
            for c in ("p_first", "p_second", "p_tie")
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=None, help="first N prompts only")
    parser.add_argument("--schedule", default="sample:3", help="compare's --schedule")
    parser.add_argument("--seed", type=int, default=0, help="compare's --seed")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per backend")
    parser.add_argument("--hf-batch-size", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=None, help="vLLM KV block size")
    parser.add_argument("--skip-hf", action="store_true", help="measure the vLLM judge only")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    outputs = load_arena(args.prompts)
    source = f"demo, {args.schedule}, seed {args.seed}" + (
        f", first {args.prompts} prompts" if args.prompts else ""
    )
    load_start = os.getloadavg()[0]

    t0 = time.perf_counter()
    vllm_judge = VLLMJudge("smollm2", engine=VLLMEngineOptions(block_size=args.block_size))
    vllm_load = time.perf_counter() - t0
    hf_judge: HFJudge | None = None
    hf_load = 0.0
    if not args.skip_hf:
        t0 = time.perf_counter()
        hf_judge = HFJudge("smollm2", options=JudgeOptions(batch_size=args.hf_batch_size))
        hf_load = time.perf_counter() - t0
        warm_up(hf_judge)
    warm_up(vllm_judge)

    hf_rates: list[float] = []
    vllm_rates: list[float] = []
    hit_rates: list[float] = []
    diffs: list[float] = []
    calls = 0
    block = vllm_judge.llm.llm_engine.vllm_config.cache_config.block_size
    for _ in range(args.rounds):
        hf_result = None
        if hf_judge is not None:
            hf_result, rate = run(hf_judge, outputs, schedule=args.schedule, seed=args.seed)
            hf_rates.append(rate)
        before = vllm_judge.prefix_cache_stats()
        vllm_result, rate = run(vllm_judge, outputs, schedule=args.schedule, seed=args.seed)
        vllm_rates.append(rate)
        hit_rates.append((vllm_judge.prefix_cache_stats() - before).hit_rate)
        if hf_result is not None:
            diffs.append(max_diff(vllm_result, hf_result))
        calls = vllm_result.stats["judge_calls_made"]
        # Progress per round: a long run on a busy machine should not end with nothing.
        print(
            f"round {len(vllm_rates)}: hf {hf_rates[-1] if hf_rates else float('nan'):.2f}/s, "
            f"vLLM {vllm_rates[-1]:.2f}/s, prefix-cache hit rate {hit_rates[-1]:.1%}",
            flush=True,
        )
    vllm_judge.close()

    numbers = {
        "arena": source,
        "judgments_per_run": calls,
        "vllm_load_s": round(vllm_load, 1),
        "hf_load_s": round(hf_load, 1) if hf_judge is not None else None,
        "hf_judgments_per_s": [round(r, 2) for r in hf_rates],
        "vllm_judgments_per_s": [round(r, 2) for r in vllm_rates],
        "vllm_prefix_cache_hit_rate": [round(r, 3) for r in hit_rates],
        "vllm_block_size": block,
        "max_abs_p_diff": max(diffs) if diffs else None,
        "load_average_1m_start": round(load_start, 2),
        "load_average_1m_end": round(os.getloadavg()[0], 2),
    }
    rows = [
        ("arena", source),
        ("judgments per run (pairs x 2 orders)", str(calls)),
        ("vLLM engine load", f"{vllm_load:.1f} s"),
    ]
    if hf_rates:
        rows += [
            ("hf model load", f"{hf_load:.1f} s"),
            ("hf judgments / s (median)", f"{statistics.median(hf_rates):.2f}"),
        ]
    rows += [
        ("vLLM judgments / s, cold prefix cache", f"{vllm_rates[0]:.2f}"),
        ("vLLM prefix-cache hit rate, cold run", f"{hit_rates[0]:.1%}"),
    ]
    if len(vllm_rates) > 1:
        rows += [
            ("vLLM judgments / s, later rounds", f"{statistics.median(vllm_rates[1:]):.2f}"),
            ("vLLM prefix-cache hit rate, later", f"{statistics.median(hit_rates[1:]):.1%}"),
        ]
    rows.append(("vLLM KV block size (tokens)", str(block)))
    if diffs:
        rows.append(("max |p_vllm - p_hf| over all verdicts", f"{max(diffs):.1e}"))
    rows.append(("1-min load average, start / end", f"{load_start:.1f} / {os.getloadavg()[0]:.1f}"))
    print(
        f"\njudgekit bench_vllm · {platform.processor() or platform.machine()} · "
        f"{os.cpu_count()} cores\n"
    )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value:>14}")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    # Both paths must see the same prompts to compare their verdicts: one fence key for every
    # run here (fresh random tags would move a small model's probabilities by ~1e-2).
    os.environ.setdefault(FENCE_KEY_ENV, "benchmark")
    main()
