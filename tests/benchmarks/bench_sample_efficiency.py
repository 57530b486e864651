"""Benchmark: judge calls needed to recover the true ranking, per scheduling method.

Run from the repository root (no LLM, no network; a few minutes on 2 cores)::

    python tests/benchmarks/bench_sample_efficiency.py [--models 20 50] [--seeds 20] [--jobs 2]

One simulated judge serves every method, and every call to it is counted the same way:

- models have log-strengths θ ~ N(0, spread²) (a new draw per seed);
- a call shows candidates in slots; each candidate's perceived quality is
  ``θ + bias·[slot 1] + Gumbel noise``, so a pairwise call follows Bradley-Terry and a
  listwise call Plackett-Luce (the Gumbel-max construction), with a position bias toward
  the first slot;
- a pairwise call is a tie when the two perceived qualities differ by less than a margin;
  a listwise call returns a strict ranking of its K slots, in which neighbours that close
  come out in a random order.

Every pairwise method shows each pair in a random order (one call per comparison), and the
arena shows each list in a random order, so position bias acts as noise for all of them.
Each method runs until Kendall τ between its ratings and the true strengths has reached the
target for good: the reported count is the start of the first run of checks at or above the
target that lasts until 1.5 times that count (checks after every batch of ``--batch``
calls, every arena round, every sort pass), so a lucky early check does not count. A run
that hits the cap is reported as capped. Methods, each with the library code a
real run uses:

- uniform: uniformly random pairs, Bradley-Terry (``judgekit.rank.bradley_terry``) refit
  after every batch;
- elo: the same random pairs, online Elo (the update of ``judgekit.rank.elo``), K = --elo-k
  (4, FastChat's and judgekit's default; 8 and 16 settle above τ = 0.9 less often);
- adaptive: ``judgekit.plan.adaptive.select_pairs`` on ``bt_posterior``, batches of --batch;
- arena: ``judgekit.plan.arena.plan_rounds`` + openskill updates (``ArenaState``), K = --k; one
  listwise call counts as 1 call and as K - 1 pairwise-equivalent calls;
- sort: ``judgekit.runs.sorting.merge_sort`` of the models' answers to a fresh prompt per pass,
  passes fused by Bradley-Terry on every comparison they made.

It prints the median calls over seeds (and the 25-75 % range) per method and model count,
and the ratio of each method's median to the uniform schedule's.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.stats import kendalltau

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from judgekit.plan.adaptive import Criterion, batch_rng, bt_posterior, select_pairs  # noqa: E402
from judgekit.plan.arena import ArenaState, plan_rounds  # noqa: E402
from judgekit.rank import PairwiseData, RankingData, bradley_terry, elo, plackett_luce  # noqa: E402
from judgekit.rank.scale import ELO_BASE, ELO_SCALE  # noqa: E402
from judgekit.runs.sorting import PairCache, merge_sort  # noqa: E402

METHODS = ("uniform", "elo", "adaptive", "arena", "sort")


@dataclass(frozen=True)
class Settings:
    n_models: int
    spread: float
    bias: float
    tie_margin: float
    target: float
    batch: int
    k: int
    elo_k: float
    cap_per_model: int
    criterion: Criterion = "information"


class SimJudge:
    """The one simulated judge: strengths, Gumbel noise, a first-slot bias and ties."""

    def __init__(self, theta: np.ndarray, *, bias: float, tie_margin: float, seed: int):
        self.theta = theta
        self.bias = bias
        self.tie_margin = tie_margin
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def pairwise(self, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, ...]:
        """Calls showing ``first[i]`` in slot 1: (first won, second won, tie) as floats."""
        self.calls += len(first)
        u1 = self.theta[first] + self.bias + self.rng.gumbel(size=len(first))
        u2 = self.theta[second] + self.rng.gumbel(size=len(first))
        tie = np.abs(u1 - u2) < self.tie_margin
        won = (u1 > u2) & ~tie
        return won.astype(float), (~won & ~tie).astype(float), tie.astype(float)

    def random_order(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        """Judge pairs (a, b) each shown in a random order; (a won, b won, tie)."""
        swap = self.rng.random(len(a)) < 0.5
        first, second = np.where(swap, b, a), np.where(swap, a, b)
        w1, w2, tie = self.pairwise(first, second)
        return np.where(swap, w2, w1), np.where(swap, w1, w2), tie

    def listwise(self, shown: tuple[int, ...]) -> tuple[int, ...]:
        """One call: the slots ranked best first. Neighbours in the ranking whose perceived
        qualities differ by less than the tie margin come out in a random order: what a
        pairwise call reports as a tie, a strict ranking can only guess."""
        self.calls += 1
        u = self.theta[list(shown)] + self.rng.gumbel(size=len(shown))
        u[0] += self.bias
        order = [int(s) for s in np.argsort(-u)]
        for x in range(len(order) - 1):
            close = u[order[x]] - u[order[x + 1]] < self.tie_margin
            if close and self.rng.random() < 0.5:
                order[x], order[x + 1] = order[x + 1], order[x]
        return tuple(order)


def tau(estimate: np.ndarray, theta: np.ndarray) -> float:
    value = kendalltau(estimate, theta).statistic
    return float(value) if np.isfinite(value) else 0.0


class Tracker:
    """When τ reached the target *for good*: the start of the first run of checks at or
    above it that lasts until ``confirm`` times its start (a lucky early check that falls
    back does not count). ``result`` is that call count, or minus the calls spent when the
    cap came first."""

    def __init__(
        self, *, target: float, cap: int, step: int, confirm: float = 1.5, growth: float = 1.03
    ) -> None:
        self.target = target
        self.cap = cap
        self.step = step
        self.confirm = confirm
        self.growth = growth
        self.since: int | None = None
        self.calls = 0
        self.next_check = 0

    def due(self, calls: int) -> bool:
        """Whether to check τ now: every ``step`` calls, or every 3 % more calls once that is
        more (the same grid for every method, in pairwise-equivalent calls)."""
        return calls >= self.next_check or calls >= self.cap

    def done(self, calls: int, value: float) -> bool:
        self.calls = calls
        self.next_check = max(calls + self.step, int(calls * self.growth))
        if value < self.target:
            self.since = None
        elif self.since is None:
            self.since = calls
        if self.since is not None and calls >= self.confirm * self.since:
            return True
        return calls >= self.cap

    @property
    def result(self) -> int:
        finished = self.since is not None and self.calls >= self.confirm * self.since
        return self.since if finished and self.since is not None else -self.calls


class Pairs:
    """Growing arrays of pairwise outcomes."""

    def __init__(self) -> None:
        self.cols: list[tuple[np.ndarray, ...]] = []

    def add(self, *cols: np.ndarray) -> None:
        self.cols.append(cols)

    def data(self, n: int) -> PairwiseData | None:
        if not self.cols:
            return None
        a, b, wa, wb, t = (np.concatenate(c) for c in zip(*self.cols, strict=True))
        return PairwiseData.from_arrays(
            models=[f"m{i}" for i in range(n)], a=a, b=b, win_a=wa, win_b=wb, tie=t
        )


def uniform_pairs(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, n, size)
    b = rng.integers(0, n - 1, size)
    return a, np.where(b >= a, b + 1, b)


def _tracker(s: Settings, *, per_call: int = 1) -> Tracker:
    """A tracker counting in calls of one kind; ``per_call`` pairwise equivalents each, so
    that every method gets the same cap and check grid in pairwise-equivalent calls."""
    return Tracker(
        target=s.target,
        cap=s.cap_per_model * s.n_models // per_call,
        step=max(1, s.batch // per_call),
    )


def run_uniform(s: Settings, theta: np.ndarray, seed: int) -> int:
    judge = SimJudge(theta, bias=s.bias, tie_margin=s.tie_margin, seed=seed)
    rng = np.random.default_rng([seed, 1])
    pairs = Pairs()
    track = _tracker(s)
    while True:
        a, b = uniform_pairs(rng, s.n_models, s.batch)
        pairs.add(a, b, *judge.random_order(a, b))
        if track.due(judge.calls):
            data = pairs.data(s.n_models)
            assert data is not None
            if track.done(judge.calls, tau(np.asarray(bradley_terry(data).rating), theta)):
                return track.result


def run_elo(s: Settings, theta: np.ndarray, seed: int) -> int:
    judge = SimJudge(theta, bias=s.bias, tie_margin=s.tie_margin, seed=seed)
    rng = np.random.default_rng([seed, 1])
    ratings = np.full(s.n_models, 1000.0)
    pairs = Pairs()
    track = _tracker(s)
    while True:
        a, b = uniform_pairs(rng, s.n_models, s.batch)
        wa, wb, t = judge.random_order(a, b)
        pairs.add(a, b, wa, wb, t)
        for ia, ib, score in zip(a.tolist(), b.tolist(), (wa + 0.5 * t).tolist(), strict=True):
            expected = 1.0 / (1.0 + ELO_BASE ** ((ratings[ib] - ratings[ia]) / ELO_SCALE))
            delta = s.elo_k * (score - expected)
            ratings[ia] += delta
            ratings[ib] -= delta
        if track.due(judge.calls) and track.done(judge.calls, tau(ratings, theta)):
            break
    # The incremental update must be the library's online Elo, game for game.
    data = pairs.data(s.n_models)
    assert data is not None
    single = np.asarray(elo(data, k=s.elo_k, shuffles=0).rating)
    assert np.allclose(single, ratings), "benchmark Elo diverged from judgekit.rank.elo"
    return track.result


def run_adaptive(s: Settings, theta: np.ndarray, seed: int) -> int:
    judge = SimJudge(theta, bias=s.bias, tie_margin=s.tie_margin, seed=seed)
    pairs = Pairs()
    track = _tracker(s)
    batch = 0
    while True:
        # One Bradley-Terry refit per batch serves both the next choice and the check.
        posterior = bt_posterior(pairs.data(s.n_models), n_models=s.n_models)
        if batch > 0 and track.due(judge.calls):
            if track.done(judge.calls, tau(posterior.theta, theta)):
                return track.result
        chosen = select_pairs(
            posterior, batch=s.batch, rng=batch_rng(seed, batch), criterion=s.criterion
        )
        a = np.array([i for i, _ in chosen])
        b = np.array([j for _, j in chosen])
        pairs.add(a, b, *judge.random_order(a, b))
        batch += 1


def run_arena(s: Settings, theta: np.ndarray, seed: int) -> int:
    judge = SimJudge(theta, bias=s.bias, tie_margin=s.tie_margin, seed=seed)
    state = ArenaState.fresh([f"m{i}" for i in range(s.n_models)])
    prompts = {"p": list(range(s.n_models))}
    track = _tracker(s, per_call=s.k - 1)
    while True:
        (planned,) = plan_rounds(state, prompts=prompts, k=s.k, seed=seed, count=1)
        slots = judge.listwise(planned.shown)
        state.apply(tuple(planned.shown[x] for x in slots), prompt_id=planned.prompt_id)
        if track.due(judge.calls):
            # The arena's leaderboard: Plackett-Luce on its rankings (openskill's online μ
            # steers matchmaking; the batch fit ranks better).
            data = RankingData(models=state.models, rankings=tuple(state.rankings))
            if track.done(judge.calls, tau(np.asarray(plackett_luce(data).rating), theta)):
                return track.result


def run_sort(s: Settings, theta: np.ndarray, seed: int) -> int:
    judge = SimJudge(theta, bias=s.bias, tie_margin=s.tie_margin, seed=seed)
    rng = np.random.default_rng([seed, 2])
    pairs = Pairs()
    track = _tracker(s)

    def compare(batch: list[tuple[int, int]]) -> list[float]:
        a = np.array([x for x, _ in batch])
        b = np.array([y for _, y in batch])
        wa, wb, t = judge.random_order(a, b)
        pairs.add(a, b, wa, wb, t)
        return list(wa + 0.5 * t)

    while True:
        # One pass sorts the models' answers to a fresh prompt (so a fresh cache: answers to
        # another prompt differ); the passes are fused by Bradley-Terry on every comparison
        # they made, as sort_ranking fuses passes.
        merge_sort([int(x) for x in rng.permutation(s.n_models)], compare, cache=PairCache())
        data = pairs.data(s.n_models)
        assert data is not None
        if track.done(judge.calls, tau(np.asarray(bradley_terry(data).rating), theta)):
            return track.result


RUNNERS = {
    "uniform": run_uniform,
    "elo": run_elo,
    "adaptive": run_adaptive,
    "arena": run_arena,
    "sort": run_sort,
}


def one_seed(args: tuple[Settings, int, tuple[str, ...]]) -> dict[str, int]:
    s, seed, methods = args
    theta = np.random.default_rng([seed, 0]).normal(0.0, s.spread, s.n_models)
    return {m: RUNNERS[m](s, theta, seed) for m in methods}


def summarise(label: str, values: list[int]) -> tuple[str, float, bool]:
    arr = np.abs(np.asarray(values, dtype=float))
    capped = int(np.sum(np.asarray(values) < 0))
    q25, med, q75 = np.percentile(arr, [25, 50, 75])
    note = f" ({capped} capped)" if capped else ""
    return f"{med:8.0f}   {q25:6.0f}-{q75:<6.0f}{note}", float(med), capped > 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--spread", type=float, default=1.0, help="sd of true log-strengths")
    parser.add_argument("--bias", type=float, default=0.3, help="first-slot bias (nats)")
    parser.add_argument("--tie-margin", type=float, default=0.3, help="pairwise tie margin")
    parser.add_argument(
        "--batch", type=int, default=0, help="pairs per batch (0: half the models, >= 8)"
    )
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--elo-k", type=float, default=4.0)
    parser.add_argument("--cap-per-model", type=int, default=600)
    parser.add_argument(
        "--adaptive-criterion",
        choices=["information", "discordance"],
        default="information",
        help="pair-choice criterion of the adaptive schedule (judgekit.plan.adaptive.select_pairs)",
    )
    parser.add_argument(
        "--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods to run"
    )
    args = parser.parse_args()

    print(
        f"judge: θ ~ N(0, {args.spread}²), Gumbel noise, first-slot bias {args.bias} nats, "
        f"pairwise tie margin {args.tie_margin}; target Kendall τ >= {args.target}; "
        f"{args.seeds} seeds; K = {args.k}; Elo K-factor {args.elo_k:g}; "
        f"adaptive criterion {args.adaptive_criterion}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for n in args.models:
        s = Settings(
            n_models=n,
            spread=args.spread,
            bias=args.bias,
            tie_margin=args.tie_margin,
            target=args.target,
            batch=args.batch or max(8, n // 2),
            k=args.k,
            elo_k=args.elo_k,
            cap_per_model=args.cap_per_model,
            criterion=args.adaptive_criterion,
        )
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            jobs = [(s, seed, tuple(args.methods)) for seed in range(args.seeds)]
            results = list(pool.map(one_seed, jobs))
        seconds = time.perf_counter() - started
        print(f"\n{n} models, batch {s.batch} pairs ({seconds:.0f} s)")
        print(f"{'method':<34}{'median':>8}   {'25-75 %':<13}  vs uniform")
        base = float(np.median(np.abs([r.get("uniform", np.nan) for r in results])))
        for method in args.methods:
            values = [r[method] for r in results]
            text, med, _ = summarise(method, values)
            label = {
                "uniform": "uniform random pairs + BT",
                "elo": "online Elo (same random pairs)",
                "adaptive": f"adaptive pairs ({args.adaptive_criterion})",
                "arena": f"K-wise arena, K={args.k}: listwise calls",
                "sort": "merge sort passes, BT-fused",
            }[method]
            print(f"{label:<34}{text}  {med / base:6.2f}")
            if method == "arena":
                eq = [v * (args.k - 1) for v in values]
                text, med, _ = summarise(method, eq)
                label = f"K-wise arena, K={args.k}: x(K-1) pair-eq."
                print(f"{label:<34}{text}  {med / base:6.2f}")


if __name__ == "__main__":
    main()
