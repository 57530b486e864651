"""Benchmark the judging spine on the embedded judge (SmolLM2-135M-Instruct, CPU).

In one run, on the same machine, it judges ``make demo``'s compare (20 prompts x 3 sampled
pairs x 2 orders = 120 logprob verdicts) twice:

- **baseline**: the plain path, fixed batches of 8 in plan order, no prefix reuse;
- **fast**: the default path, batches formed across the whole plan by length under the token
  budget (``--max-batch-tokens``), and each prompt's shared prefix computed once.

It prints calls/s, forward tokens per verdict, the padding share, and the largest verdict
difference between the two. Then it judges a mixed-length set (answers from a few words to a
few hundred) with both paths for the padding share, times a fully cached re-run of the demo
from the CLI (and checks that it imports neither torch nor transformers), and times the CLI's
start-up (``judgekit --help``, ``judgekit rank --help``).

The machine may be shared: load averages and CPU seconds are printed beside wall times.

Usage: python tests/benchmarks/bench_judging.py [--prompts N] [--mixed-prompts N]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

import judgekit
from judgekit.judges.base import JudgeOptions
from judgekit.judges.hf import HFJudge
from judgekit.protocols.fencing import FENCE_KEY_ENV
from judgekit.types import JudgeRequest, JudgeResponse

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "arenas" / "demo" / "outputs"
DEMO_OPTIONS = {"schedule": "sample:3", "seed": 0}


class FixedChunks:
    """The plain path: the runner hands this judge fixed chunks of 8 requests in plan order
    (it has no ``judge_batches``), and each chunk is one padded forward, as before."""

    supports_logprobs = True
    batch_size = 8

    def __init__(self, judge: HFJudge) -> None:
        self.inner = judge
        self.id = judge.id

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        return self.inner.judge(requests)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _run(outputs: Any, judge: Any, stats_of: HFJudge, db: str | Path) -> dict[str, Any]:
    stats_of.stats.reset()
    load = _load()
    cpu = _cpu()
    result = judgekit.compare(outputs, judge=judge, db=db, bootstrap=0, **DEMO_OPTIONS)
    s = stats_of.stats
    calls = result.stats["judge_calls_made"]
    judging = result.stats["judging_seconds"]
    return {
        "result": result,
        "calls": calls,
        "judging_s": judging,
        "cpu_s": _cpu() - cpu,
        "calls_per_s": calls / judging,
        "forward_per_verdict": s.forward_tokens / max(1, calls),
        "prompt_per_verdict": s.prompt_tokens / max(1, calls),
        "padding": s.padding_tokens / max(1, s.forward_tokens),
        "forwards": s.n_forward_calls + s.n_prefix_calls,
        "load": load,
    }


def _max_gap(a: pd.DataFrame, b: pd.DataFrame) -> float:
    keys = ["prompt_id", "model_a", "model_b", "position_order"]
    merged = a.merge(b, on=keys, suffixes=("_a", "_b"))
    assert len(merged) == len(a) == len(b)
    gaps = [(merged[f"{c}_a"] - merged[f"{c}_b"]).abs().max() for c in ("p_first", "p_second")]
    return float(max(gaps))


def _mixed_set(prompts: int) -> list[pd.DataFrame]:
    """The demo's prompts with answers cut or repeated to lengths from 3 to ~400 words."""
    frames = [pd.read_json(p, lines=True) for p in sorted(DEMO.glob("*.jsonl"))]
    keep = sorted(frames[0]["prompt_id"].unique())[:prompts]
    out = []
    for k, frame in enumerate(frames):
        frame = frame[frame["prompt_id"].isin(keep)].copy()
        words = [3, 40, 150, 400][k % 4]
        frame["output"] = [
            " ".join(text.split() * (1 + words // max(1, len(text.split()))))[: words * 6]
            for text in frame["output"]
        ]
        out.append(frame)
    return out


def _cli(args: list[str], code: str | None = None) -> tuple[float, float, str, str]:
    """Run the CLI in a fresh interpreter: wall s, CPU s, stdout, stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    cmd = (
        [sys.executable, "-m", "judgekit", *args]
        if code is None
        else [sys.executable, "-c", code, *args]
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout, out.stderr


REPORT_IMPORTS = (
    "import sys\n"
    "from judgekit.cli import cli\n"
    "try:\n"
    "    cli()\n"
    "except SystemExit as exc:\n"
    "    assert exc.code in (0, None), exc.code\n"
    "heavy = sorted(m for m in ('torch', 'transformers') if m in sys.modules)\n"
    "print('HEAVY=' + ','.join(heavy), file=sys.stderr)\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=20, help="demo prompts to judge")
    parser.add_argument("--mixed-prompts", type=int, default=6, help="prompts of the mixed set")
    parser.add_argument("--max-batch-tokens", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    started = time.perf_counter()
    fast_judge = HFJudge("smollm2", options=JudgeOptions(max_batch_tokens=args.max_batch_tokens))
    load_s = time.perf_counter() - started
    plain_judge = HFJudge(
        "smollm2", options=JudgeOptions(batch_size=8, max_batch_tokens=10**9), prefix_reuse=False
    )
    # One padded forward per chunk of 8, as before: no cutting of a chunk by length.
    plain_judge.batch_overhead = 10**9
    baseline = FixedChunks(plain_judge)
    demo_files = sorted(DEMO.glob("*.jsonl"))
    frames = [pd.read_json(p, lines=True) for p in demo_files]
    keep = sorted(frames[0]["prompt_id"].unique())[: args.prompts]
    demo = [f[f["prompt_id"].isin(keep)] for f in frames]
    rows: list[tuple[str, str, str, str]] = []

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        plain = _run(demo, baseline, plain_judge, ":memory:")
        fast = _run(demo, fast_judge, fast_judge, db)
        gap = _max_gap(plain["result"].verdicts, fast["result"].verdicts)
        for label, key, fmt in (
            ("judge calls (logprob verdicts)", "calls", "{:d}"),
            ("judging wall s", "judging_s", "{:.1f}"),
            ("process CPU s", "cpu_s", "{:.1f}"),
            ("calls / s", "calls_per_s", "{:.2f}"),
            ("model forwards", "forwards", "{:d}"),
            ("prompt tokens / verdict", "prompt_per_verdict", "{:.0f}"),
            ("forward tokens / verdict", "forward_per_verdict", "{:.0f}"),
            ("padding share of forward tokens", "padding", "{:.1%}"),
            ("load average (1/5 min) at start", "load", "{}"),
        ):
            rows.append((f"demo: {label}", fmt.format(plain[key]), fmt.format(fast[key]), ""))
        speedup = fast["calls_per_s"] / plain["calls_per_s"]
        rows.append(("demo: throughput, fast / baseline", "", f"{speedup:.2f}x", "goal >= 2x"))
        rows.append(("demo: largest verdict probability gap", "", f"{gap:.1e}", "goal <= 1e-4"))

        mixed = _mixed_set(args.mixed_prompts)
        m_plain = _run(mixed, baseline, plain_judge, ":memory:")
        m_fast = _run(mixed, fast_judge, fast_judge, ":memory:")
        m_gap = _max_gap(m_plain["result"].verdicts, m_fast["result"].verdicts)
        rows.append(
            (
                f"mixed set ({m_fast['calls']} calls): padding share",
                f"{m_plain['padding']:.1%}",
                f"{m_fast['padding']:.1%}",
                "goal <= 5 %",
            )
        )
        rows.append(
            (
                "mixed set: forward tokens / verdict",
                f"{m_plain['forward_per_verdict']:.0f}",
                f"{m_fast['forward_per_verdict']:.0f}",
                "",
            )
        )
        rows.append(
            (
                "mixed set: calls / s",
                f"{m_plain['calls_per_s']:.2f}",
                f"{m_fast['calls_per_s']:.2f}",
                "",
            )
        )
        rows.append(("mixed set: largest verdict gap", "", f"{m_gap:.1e}", "goal <= 1e-4"))

        # The cached re-run, from the CLI as a user types it: every call is in the store.
        cli_args = ["compare", *map(str, demo_files), "--judge", "hf/smollm2", "--db", str(db)]
        cli_args += ["--schedule", "sample:3", "--seed", "0", "--json", "--no-progress"]
        load = _load()
        wall, cpu, _, err = _cli(cli_args, REPORT_IMPORTS)
        heavy = err.rsplit("HEAVY=", 1)[-1].strip() or "none"
        note = f"load {load}; torch/transformers imported: {heavy}"
        rows.append(("cached re-run of the demo (CLI) wall s", "", f"{wall:.2f}", "goal < 3 s"))
        rows.append(("cached re-run CPU s", "", f"{cpu:.2f}", note))

    for label, cli_args in (
        ("judgekit --help", ["--help"]),
        ("judgekit rank --help", ["rank", "--help"]),
    ):
        load = _load()
        wall, cpu, _, _ = _cli(cli_args)
        rows.append(
            (
                f"{label}: wall s / CPU s",
                "",
                f"{wall:.2f} / {cpu:.2f}",
                f"goal < 0.4 s; load {load}",
            )
        )

    print(
        f"\njudgekit bench_judging · {platform.processor() or platform.machine()}"
        f" · {os.cpu_count()} cores · model load {load_s:.1f} s\n"
        f"command: python tests/benchmarks/bench_judging.py --prompts {args.prompts} "
        f"--mixed-prompts {args.mixed_prompts}\n"
        f"fast path: max_batch_tokens={fast_judge.max_batch_tokens}, "
        f"rows <= {fast_judge.batch_size}, prefix reuse on; "
        "baseline: fixed batches of 8 in plan order, no prefix reuse\n"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'baseline':>10}  {'fast':>14}  note")
    for label, a, b, note in rows:
        print(f"{label:<{width}}  {a:>10}  {b:>14}  {note}")
    print(f"\nload average at the end: {_load()}")


if __name__ == "__main__":
    # Both paths must see the same prompts to compare their verdicts: one fence key for every
    # run here (fresh random tags would move a small model's probabilities by ~1e-2).
    os.environ.setdefault(FENCE_KEY_ENV, "benchmark")
    main()
