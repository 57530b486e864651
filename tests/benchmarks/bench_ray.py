"""Benchmark judging on Ray: throughput against replicas, the embedded judge, driver costs.

Measures, on a Ray instance started here (2 logical CPUs, a 200 MB object store) or on a
cluster given with ``--address``:

1. throughput (calls/s) of ``fake/slow-hash-50ms``, a judge that sleeps 50 ms per request
   like an I/O-bound endpoint, on 1, 2, 4 and 8 replicas, and its share of linear scaling
   (goal: >= 0.8 up to 8 replicas);
2. the embedded judge (hf/smollm2) on 1 and 2 replicas, next to the same run in this process;
3. the driver's time per call (hashing, cache check, submitting, collecting, storing:
   everything but waiting for the cluster), with an instant judge;
4. the store's write rate (judge-call rows per second, in the runner's transactions).

Every run goes through ``runner.execute`` into a fresh DuckDB store, as a CLI run does.

Usage: python tests/benchmarks/bench_ray.py [--calls N] [--address ADDR] [--skip-embedded]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from judgekit.judges.registry import get_judge
from judgekit.runs.ray_exec import RayJudge, RayOptions
from judgekit.runs.runner import execute
from judgekit.store.db import CallRecord, open_store
from judgekit.types import JudgeRequest, Message

DEMO = Path(__file__).resolve().parents[2] / "arenas" / "demo" / "outputs"


def requests(n: int, *, tag: str) -> list[JudgeRequest]:
    return [
        JudgeRequest(
            messages=(Message("user", f"{tag} question {i}: A or B?"),), choices=("A", "B")
        )
        for i in range(n)
    ]


def pairwise_requests(n: int) -> list[JudgeRequest]:
    """Real pairwise prompts from the demo arena, both orders, as compare renders them."""
    from judgekit.inputs.outputs import load_outputs
    from judgekit.plan import parse_schedule, plan_comparisons
    from judgekit.protocols.pairwise import PairwiseSpec, plan_requests

    data = load_outputs(sorted(DEMO.glob("*.jsonl")))
    by_prompt = data.by_prompt()
    comparisons = plan_comparisons(
        {pid: list(c) for pid, c in by_prompt.items()}, schedule=parse_schedule("all-pairs")
    )
    planned = plan_requests(
        comparisons, items=data.items, candidates=by_prompt, spec=PairwiseSpec()
    )
    return [p.request for p in planned][:n]


def timed_run(judge: object, reqs: list[JudgeRequest], tmp: Path, name: str) -> float:
    with open_store(tmp / f"{name}.duckdb") as store:
        start = time.perf_counter()
        _, stats = execute(reqs, judge=judge, store=store)  # type: ignore[arg-type]
        wall = time.perf_counter() - start
    assert stats.called == len(reqs) and stats.failed == 0, stats
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=480, help="requests per scaling run")
    parser.add_argument("--address", default="local", help="Ray address (default: start one)")
    parser.add_argument("--embedded-calls", type=int, default=24)
    parser.add_argument("--skip-embedded", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    base = {"address": args.address, "num_cpus": 2, "object_store_mb": 200}
    rows: list[tuple[str, str]] = []

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # Keep one judge alive throughout, so that Ray starts once.
        keeper = RayJudge("fake/hash", ray_options=RayOptions(**base, replicas=1, replica_cpus=0))

        # 1. Throughput against replicas, I/O-bound judge.
        print(f"{'replicas':>8} {'calls':>6} {'wall s':>7} {'calls/s':>8} {'x linear':>8}")
        single = None
        for replicas in (1, 2, 4, 8):
            opts = RayOptions(**base, replicas=replicas, replica_cpus=0.25)
            with RayJudge("fake/slow-hash-50ms", ray_options=opts) as judge:
                wall = timed_run(
                    judge, requests(args.calls, tag=f"r{replicas}"), tmp, f"r{replicas}"
                )
            rate = args.calls / wall
            single = single or rate
            share = rate / (single * replicas)
            print(f"{replicas:>8} {args.calls:>6} {wall:>7.2f} {rate:>8.1f} {share:>8.2f}")
            rows.append(
                (
                    f"fake 50 ms/call, {replicas} replicas",
                    f"{rate:.1f} calls/s ({share:.2f}x linear)",
                )
            )

        # 3. Driver time per call with an instant judge: everything but waiting on the cluster.
        n = 4000
        opts = RayOptions(**base, replicas=2, replica_cpus=0.5)
        with RayJudge("fake/hash", ray_options=opts) as judge:
            wall = timed_run(judge, requests(n, tag="driver"), tmp, "driver")
            driver_ms = (wall - judge.stats.wait_s) / n * 1000
            submit_ms = judge.stats.driver_s / n * 1000
        rows.append(("driver time per call (instant judge, 2 replicas)", f"{driver_ms:.3f} ms"))
        rows.append(("  of which submitting and collecting batches", f"{submit_ms:.3f} ms"))
        rows.append(("instant judge end to end, 2 replicas", f"{n / wall:.0f} calls/s"))

        # 4. The store's write rate, in transactions the size the runner flushes.
        local = get_judge("fake/hash")
        reqs = requests(n, tag="store")
        records = [
            CallRecord(r.hash_for(local.id), local.id, r, resp)
            for r, resp in zip(reqs, local.judge(reqs), strict=True)
        ]
        with open_store(tmp / "writes.duckdb") as store:
            start = time.perf_counter()
            for offset in range(0, n, 500):
                store.write_calls(records[offset : offset + 500])
            write_s = time.perf_counter() - start
        rows.append(("store write rate (500-row transactions)", f"{n / write_s:.0f} rows/s"))

        # 2. The embedded judge: replicas of one forward at a time each, one CPU each.
        if not args.skip_embedded:
            reqs = pairwise_requests(args.embedded_calls)
            hf = get_judge("hf/smollm2")
            hf.judge(reqs[:2])  # warm up: the first forward pays one-off costs
            wall = timed_run(hf, reqs, tmp, "hf-local")
            rows.append(
                (
                    f"hf/smollm2 in this process, {len(reqs)} calls",
                    f"{len(reqs) / wall:.2f} calls/s",
                )
            )
            for replicas in (1, 2):
                opts = RayOptions(**base, replicas=replicas, replica_cpus=1)
                with RayJudge("hf/smollm2", ray_options=opts) as judge:
                    judge.judge(reqs[: replicas * 2])  # warm up every replica
                    wall = timed_run(judge, reqs, tmp, f"hf-{replicas}")
                rows.append(
                    (f"hf/smollm2 on Ray, {replicas} replica(s)", f"{len(reqs) / wall:.2f} calls/s")
                )
        keeper.close()

    print()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
