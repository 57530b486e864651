"""Benchmark ``judgekit score alpaca-eval`` on a generated 60-model AlpacaEval set.

Writes one ``annotations.json`` per model (805 instructions, outputs of a few thousand
characters, about 4 MB a file, weighted preferences from a length-loving synthetic judge,
the baseline's verbose and concise variants among the models), then times the command
end to end and its stages: reading the files, the joint instruction-difficulty fit, and
the per-model length-controlled GLMs.  Goal: under 60 s on 2 cores.

Usage: python tests/benchmarks/bench_score.py [--models 60] [--instructions 805]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.inputs.formats.alpaca_eval import read_alpaca_eval_preferences
from judgekit.rank.peers import alpaca_eval as ae

BASELINE = "gpt4_1106_preview"


def generate(directory: Path, *, models: int, instructions: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=instructions)
    len_1 = rng.integers(800, 4000, instructions)
    baseline_outputs = ["b" * int(n) for n in len_1]
    names = [f"model_{k:02d}" for k in range(models - 2)]
    names += [f"{BASELINE}_verbose", f"{BASELINE}_concise"]
    paths = []
    for name in names:
        skill = 0.0 if name.startswith(BASELINE) else rng.normal(0, 1)
        scale = {"verbose": 1.6, "concise": 0.5}.get(name.split("_")[-1], rng.uniform(0.4, 1.8))
        len_2 = np.maximum(1, (len_1 * scale * rng.lognormal(0, 0.3, instructions)).astype(int))
        delta = (len_1 - len_2) / np.std(len_1 - len_2, ddof=1)
        p = 1 / (1 + np.exp(-(skill - 1.2 * np.tanh(delta) - 0.7 * difficulty)))
        rows = [
            {
                "instruction": f"instruction {i}",
                "output_1": baseline_outputs[i],
                "generator_1": BASELINE,
                "dataset": "helpful_base",
                "output_2": "m" * int(len_2[i]),
                "generator_2": name,
                "annotator": "weighted_alpaca_eval_gpt4_turbo",
                "preference": float(1 + p[i]),
                "time_per_example": 0.8,
                "price_per_example": 0.01,
                "raw_completion": {"logprobs": [-0.1, -2.3]},
            }
            for i in range(instructions)
        ]
        path = directory / name / "weighted_alpaca_eval_gpt4_turbo" / "annotations.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(rows))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--instructions", type=int, default=805)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate(Path(tmp), models=args.models, instructions=args.instructions)
        size_mb = np.mean([p.stat().st_size for p in paths]) / 1e6

        start = time.perf_counter()
        result = CliRunner().invoke(cli, ["score", "alpaca-eval", *map(str, paths), "--json"])
        total = time.perf_counter() - start
        if result.exit_code != 0:
            raise SystemExit(result.output)

        start = time.perf_counter()
        annotations = pd.concat([read_alpaca_eval_preferences(p) for p in paths], ignore_index=True)
        read_s = time.perf_counter() - start
        start = time.perf_counter()
        difficulty = ae.instruction_difficulty(annotations)
        difficulty_s = time.perf_counter() - start
        start = time.perf_counter()
        ae.alpaca_eval_leaderboard(annotations, difficulty=difficulty)
        glm_s = time.perf_counter() - start

    rows = [
        ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs"),
        ("files", f"{len(paths)} x {size_mb:.1f} MB ({args.instructions} instructions)"),
        ("read annotations", f"{read_s:.1f} s"),
        ("instruction difficulty (joint fit)", f"{difficulty_s:.1f} s"),
        ("per-model GLMs (5-fold CV x 10 C)", f"{glm_s:.1f} s"),
        ("`judgekit score alpaca-eval` end to end", f"{total:.1f} s"),
        ("goal", "< 60 s on 2 cores"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"{'stage'.ljust(width)} | time")
    print(f"{'-' * width}-|-----")
    for key, value in rows:
        print(f"{key.ljust(width)} | {value}")


if __name__ == "__main__":
    main()
