"""Benchmark: judgekit's Bradley-Terry against arena-rank and choix on 3M battles, 200 models.

Run from the repository root (needs the dev extra: arena-rank, choix)::

    python tests/benchmarks/bench_rank.py [--battles 3000000] [--models 200] [--arena-rounds 20]

It draws battles from known strengths (20 % ties, which every tool here counts as half a win,
except choix, which drops them), starts every tool from the same Chatbot Arena DataFrame
(model_a, model_b, winner), and times, in this one run:

- judgekit: DataFrame -> PairwiseData, the BT fit, and the BT fit + 1000-round bootstrap;
- judgekit's CLI: ``judgekit rank battles.parquet --json`` in a fresh interpreter (the
  Parquet read, grouped by DuckDB into distinct rows, the fit and the 1000-round bootstrap),
  the median of ``--cli-runs`` runs, and its ratings against arena-rank's;
- arena-rank: PairDataset.from_pandas, the BT fit, and its bootstrap (multiprocessing, spawn
  start method) over ``--arena-rounds`` rounds, extrapolated to 1000;
- choix: ``ilsr_pairwise`` on the decisive battles.

It prints wall and CPU seconds, the ratios, and the largest rating gap to arena-rank. The
machine may be shared: the load average is printed so that noisy timings can be recognised.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


class Timer:
    """Wall and process CPU seconds of one step (CPU counts every thread of this process)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, str]] = []

    def run(self, label: str, fn: Callable[[], Any], note: str = "") -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        self.rows.append((label, time.perf_counter() - wall, time.process_time() - cpu, note))
        print(f"  done: {label} ({self.rows[-1][1]:.2f} s)", flush=True)
        return out

    def add(self, label: str, wall: float, cpu: float, note: str) -> None:
        self.rows.append((label, wall, cpu, note))


def battles(n_models: int, n_battles: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = rng.integers(0, n_models - 1, n_battles)
    b = np.where(b >= a, b + 1, b)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    tie = rng.random(n_battles) < 0.2
    win = ~tie & (rng.random(n_battles) < p)
    names = np.array([f"model-{i:03d}" for i in range(n_models)], dtype=object)
    winner = np.where(tie, "tie", np.where(win, "model_a", "model_b"))
    frame = pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})
    return frame, theta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=3_000_000)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--arena-rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-choix", action="store_true")
    parser.add_argument("--cli-runs", type=int, default=3, help="CLI runs; the median is shown")
    args = parser.parse_args()

    import choix

    from judgekit.rank import PairwiseData, bradley_terry

    load = os.getloadavg()
    print(
        f"{args.battles:,} battles, {args.models} models, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}",
        flush=True,
    )
    frame, theta = battles(args.models, args.battles, args.seed)
    timer = Timer()

    # judgekit. The first BLAS/LAPACK call of a process starts its threads; do it untimed.
    np.linalg.cholesky(np.eye(4))
    data = timer.run("judgekit: DataFrame -> PairwiseData", lambda: PairwiseData.from_frame(frame))
    ours = timer.run("judgekit: BT fit", lambda: bradley_terry(data))
    ours_boot = timer.run(
        f"judgekit: BT fit + {args.rounds}-round bootstrap",
        lambda: bradley_terry(data, bootstrap=args.rounds, seed=0),
    )

    # judgekit from the CLI, as a user runs it: a fresh interpreter, the Parquet read, the BT
    # fit and the default 1000-round bootstrap, the table as JSON.
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "battles.parquet"
        frame.to_parquet(parquet)
        cli = [sys.executable, "-m", "judgekit", "rank", str(parquet), "--json"]
        cli += ["--bootstrap", str(args.rounds)]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        from judgekit.inputs.battles import load_grouped_battles

        timer.run(
            "judgekit: Parquet -> grouped rows (DuckDB)", lambda: load_grouped_battles(parquet)
        )
        runs = []  # (wall, cpu) of each CLI run; the median is reported, as one run is noisy
        for _ in range(args.cli_runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            out = subprocess.run(cli, capture_output=True, text=True, env=env, check=True)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            runs.append((wall, cpu))
    wall, cpu = sorted(runs)[len(runs) // 2]
    cli_label = f"judgekit CLI: rank battles.parquet (BT + {args.rounds} rounds)"
    walls = ", ".join(f"{w:.2f}" for w, _ in runs)
    timer.add(cli_label, wall, cpu, f"median of {len(runs)} fresh interpreters ({walls} s)")
    print(f"  done: {cli_label} ({walls} s)", flush=True)
    cli_board = {r["model"]: r["rating"] for r in json.loads(out.stdout)["leaderboard"]}

    # arena-rank.
    from arena_rank.models.bradley_terry import BradleyTerry
    from arena_rank.utils.data_utils import PairDataset

    dataset = timer.run(
        "arena-rank: PairDataset.from_pandas", lambda: PairDataset.from_pandas(frame)
    )

    def arena_fit() -> Any:
        model = BradleyTerry(n_competitors=len(dataset.competitors))
        model.fit(dataset)
        return model

    model = timer.run("arena-rank: BT fit", arena_fit)
    assert list(dataset.competitors) == list(ours.models)
    theirs = np.asarray(model.params["ratings"]) * model.alpha + model.init_rating

    def arena_bootstrap() -> Any:
        fitted = BradleyTerry(n_competitors=len(dataset.competitors))
        fitted.params = model.params
        fitted.fitted = True
        return fitted.compute_ratings_and_cis(
            dataset, ci_method="bootstrap", num_bootstrap=args.arena_rounds, n_jobs=os.cpu_count()
        )

    timer.run(f"arena-rank: bootstrap, {args.arena_rounds} rounds", arena_bootstrap)
    label, wall, cpu, _ = timer.rows[-1]
    scale = args.rounds / args.arena_rounds
    timer.add(
        f"arena-rank: bootstrap, {args.rounds} rounds (extrapolated)",
        wall * scale,
        cpu * scale,
        f"x{scale:.0f} from {args.arena_rounds} rounds; CPU of the main process only",
    )

    # choix: ties dropped.
    if not args.skip_choix:
        decisive = data.tie == 0
        winners = np.where(data.win_a == 1, data.a, data.b)[decisive]
        losers = np.where(data.win_a == 1, data.b, data.a)[decisive]
        pairs = list(zip(winners.tolist(), losers.tolist(), strict=True))
        timer.run(
            "choix: ilsr_pairwise (decisive battles only)",
            lambda: choix.ilsr_pairwise(args.models, pairs),
            note=f"{len(pairs):,} battles, ties dropped",
        )

    wall_of = {r[0]: r[1] for r in timer.rows}
    boot_label = f"judgekit: BT fit + {args.rounds}-round bootstrap"
    baseline = {
        "arena-rank: PairDataset.from_pandas": "judgekit: DataFrame -> PairwiseData",
        "arena-rank: BT fit": "judgekit: BT fit",
        f"arena-rank: bootstrap, {args.rounds} rounds (extrapolated)": boot_label,
        "choix: ilsr_pairwise (decisive battles only)": "judgekit: BT fit",
    }
    print()
    print(f"{'step':<58} {'wall s':>9} {'cpu s':>9} {'vs judgekit':>12}  note")
    print("-" * 112)
    for label, wall, cpu, note in timer.rows:
        ratio = f"{wall / wall_of[baseline[label]]:.1f}x" if label in baseline else ""
        print(f"{label:<58} {wall:>9.2f} {cpu:>9.2f} {ratio:>12}  {note}")
    print("-" * 112)
    print("vs judgekit: this step's wall time over judgekit's equivalent step")
    gap = np.max(np.abs(np.asarray(ours.rating) - theirs))
    print(f"largest |judgekit - arena-rank| BT rating: {gap:.2e} Elo (goal <= 1e-3)")
    cli_gap = max(abs(cli_board[m] - t) for m, t in zip(ours.models, theirs, strict=True))
    print(f"largest |judgekit CLI - arena-rank| BT rating: {cli_gap:.2e} Elo (goal <= 1e-3)")
    arena_fit = wall_of["arena-rank: BT fit"]
    print(
        f"judgekit CLI (read + BT + {args.rounds} bootstrap rounds) {wall_of[cli_label]:.2f} s "
        f"vs arena-rank's plain BT fit alone {arena_fit:.2f} s (ratio arena-rank / judgekit "
        f"{arena_fit / wall_of[cli_label]:.2f}; goal: CLI <= 3 s on 2 cores)"
    )
    truth = theta - theta.mean()
    est = (np.asarray(ours.rating) - 1000.0) * np.log(10) / 400
    spearman = pd.Series(est).corr(pd.Series(truth), method="spearman")
    print(f"judgekit vs true strengths: Spearman {spearman:.4f}")
    info = ours_boot.extras["bootstrap"]
    print(
        f"judgekit bootstrap: {info['batched_converged']} of {info['rounds']} replicates "
        f"converged in the batched Newton iteration, {info['refitted']} refitted one by one; "
        f"BT fit converged: {ours.extras['converged']} (max |gradient| "
        f"{ours.extras['grad_norm']:.1e})"
    )
    goal = wall_of[boot_label]
    print(f"goal: BT + {args.rounds}-round bootstrap <= 3 s on 2 cores: {goal:.2f} s wall")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


if __name__ == "__main__":
    # arena-rank's bootstrap deadlocks under the default fork start method.
    mp.set_start_method("spawn")
    # Keep XLA's compile-time chatter (from arena-rank's workers too) out of the table.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
