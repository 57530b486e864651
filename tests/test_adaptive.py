"""The adaptive pairwise schedule: posterior, expected information, batches, the pipeline."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest

from judgekit.errors import ConfigError
from judgekit.judges.fakes import ScriptedJudge
from judgekit.plan.adaptive import Posterior, batch_rng, bt_posterior, pair_gain, select_pairs
from judgekit.plan.schedules import parse_adaptive
from judgekit.rank import simulate_pairwise
from judgekit.runs.adaptive import run_adaptive
from judgekit.runs.options import CompareOptions
from judgekit.types import JudgeRequest, JudgeResponse, unsealed_text
from tests.conftest import InterruptingJudge, write_jsonl

QUALITY = {f"sys{i}": float(i) * 0.6 for i in range(6)}


def test_parse_adaptive() -> None:
    assert parse_adaptive("adaptive:120") == 120
    assert parse_adaptive("all-pairs") is None and parse_adaptive("sample:3") is None
    for bad in ("adaptive:", "adaptive:0", "adaptive:x"):
        with pytest.raises(ConfigError, match="BUDGET"):
            parse_adaptive(bad)


def test_posterior_is_the_prior_without_data_and_narrows_with_it() -> None:
    prior = bt_posterior(None, n_models=4)
    assert np.array_equal(prior.theta, np.zeros(4)) and np.allclose(prior.cov, np.eye(4))
    data = simulate_pairwise([1.0, 0.0, -1.0, -2.0], n=400, seed=0)
    post = bt_posterior(data, n_models=4)
    assert list(np.argsort(-post.theta)) == [0, 1, 2, 3]
    assert np.allclose(post.cov, post.cov.T)
    # Differences are what the data pin down; the common level stays at the prior's
    # 1/n because comparisons say nothing about it.
    var_d = np.diag(post.cov)[:, None] + np.diag(post.cov)[None, :] - 2 * post.cov
    assert var_d[np.triu_indices(4, 1)].max() < 0.1
    assert np.ones(4) @ post.cov @ np.ones(4) / 16 == pytest.approx(0.25, rel=0.05)


def test_gain_favours_uncertain_close_pairs_over_settled_ones() -> None:
    theta = np.array([0.0, 0.1, 3.0])
    cov = np.diag([0.5, 0.5, 0.01])
    gain = pair_gain(theta, cov)
    assert np.allclose(gain, gain.T) and np.all(np.diag(gain) == 0)
    assert gain[0, 1] > 10 * gain[0, 2]  # close and uncertain beats far and settled
    settled = pair_gain(theta, np.diag([0.001, 0.001, 0.001]))
    assert settled[0, 2] < 1e-6  # a pair whose order is not in doubt draws nothing


def test_batches_spread_out_and_respect_capacity() -> None:
    prior = Posterior(np.zeros(6), np.eye(6))
    pairs = select_pairs(prior, batch=3, rng=batch_rng(0, 0))
    # With nothing known, the batch covers six different models before repeating one.
    assert len({m for p in pairs for m in p}) == 6
    assert pairs == select_pairs(prior, batch=3, rng=batch_rng(0, 0))
    capacity = np.zeros((6, 6), dtype=np.int64)
    capacity[0, 1] = 2
    capacity[2, 3] = 1
    limited = select_pairs(prior, batch=5, rng=batch_rng(0, 0), capacity=capacity)
    assert sorted(limited) == [(0, 1), (0, 1), (2, 3)]


def test_chosen_pairs_are_closer_than_random_ones() -> None:
    theta = np.linspace(-2, 2, 10)
    data = simulate_pairwise(theta, n=300, seed=3)
    post = bt_posterior(data, n_models=10)
    pairs = select_pairs(post, batch=15, rng=batch_rng(0, 1))
    chosen_gap = np.mean([abs(theta[i] - theta[j]) for i, j in pairs])
    all_gaps = np.abs(theta[:, None] - theta[None, :])[np.triu_indices(10, 1)]
    assert chosen_gap < 0.6 * all_gaps.mean()


def oracle(request: JudgeRequest) -> JudgeResponse:
    """Bradley-Terry on QUALITY with noise fixed by the request (a temperature-0 judge)."""
    text = request.messages[0].content
    a = re.search(r"RESPONSE A \w+>>>\n(\w+)", text).group(1)  # type: ignore[union-attr]
    b = re.search(r"RESPONSE B \w+>>>\n(\w+)", text).group(1)  # type: ignore[union-attr]
    # Seeded without the fence tags, which are new on every call.
    seed = int(hashlib.sha256(unsealed_text(text).encode()).hexdigest()[:8], 16)
    won = np.random.default_rng(seed).random() < 1 / (1 + np.exp(QUALITY[b] - QUALITY[a]))
    probs = {"A": 0.8, "B": 0.15, "C": 0.05} if won else {"A": 0.15, "B": 0.8, "C": 0.05}
    return JudgeResponse(text="A" if won else "B", choice_probs=probs)


def interrupting(stop_at: int) -> InterruptingJudge:
    """The oracle judge, but Ctrl-C arrives during its ``stop_at``-th call."""
    return InterruptingJudge(oracle, stop_at=stop_at, judge_id="fake/scripted", batch_size=4)


@pytest.fixture
def six_systems(tmp_path: Path) -> list[Path]:
    files = []
    for model in QUALITY:
        rows = [
            {"prompt_id": f"p{i}", "prompt": f"Prompt {i}", "model": model, "output": model}
            for i in range(8)
        ]
        files.append(write_jsonl(tmp_path / f"{model}.jsonl", rows))
    return files


def test_adaptive_compare_spends_its_budget_and_stores_everything(
    six_systems: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "adaptive.duckdb"
    judge = ScriptedJudge(oracle, supports_logprobs=True, batch_size=4)
    options = CompareOptions(bootstrap=0)
    result = run_adaptive(six_systems, budget=40, judge=judge, db=db, batch=8, options=options)
    assert result.stats["comparisons"] == 40 and result.stats["batches"] == 5
    assert result.stats["judge_calls_made"] == 80  # both orders of every comparison
    keys = list(
        zip(
            result.outcomes["prompt_id"],
            result.outcomes["model_a"],
            result.outcomes["model_b"],
            strict=True,
        )
    )
    assert len(set(keys)) == 40  # a pair is never judged twice on the same prompt
    # 40 noisy comparisons of six models 0.6 logits apart: the best is on top or next to it.
    assert "sys5" in list(result.leaderboard["model"])[:2]
    # The same inputs and options make the same choices from the cached calls.
    again = ScriptedJudge(oracle, supports_logprobs=True, batch_size=4)
    rerun = run_adaptive(six_systems, budget=40, judge=again, db=db, batch=8, options=options)
    assert rerun.run_id == result.run_id and not again.calls
    assert rerun.outcomes.equals(result.outcomes)


def test_an_interrupted_adaptive_run_resumes_without_rejudging(
    six_systems: list[Path], tmp_path: Path
) -> None:
    options = CompareOptions(bootstrap=0)
    straight = run_adaptive(
        six_systems,
        budget=24,
        judge=ScriptedJudge(oracle, supports_logprobs=True, batch_size=4),
        db=tmp_path / "a.duckdb",
        batch=8,
        options=options,
    )
    db = tmp_path / "b.duckdb"
    first = interrupting(stop_at=20)
    with pytest.raises(KeyboardInterrupt):
        run_adaptive(six_systems, budget=24, judge=first, db=db, batch=8, options=options)
    second = interrupting(stop_at=0)
    resumed = run_adaptive(six_systems, budget=24, judge=second, db=db, batch=8, options=options)
    # Calls 1-16 were stored before the interruption (four flushed batches of the judge),
    # so the resumed run makes only the remaining 48 - 16.
    assert second.calls == 48 - 16
    assert resumed.outcomes.equals(straight.outcomes)


def test_adaptive_needs_a_positive_budget(six_systems: list[Path]) -> None:
    with pytest.raises(ConfigError, match="budget"):
        run_adaptive(six_systems, budget=0, judge=ScriptedJudge(oracle), db=":memory:")


def test_compare_cli_runs_the_adaptive_schedule(six_systems: list[Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from judgekit.cli import cli

    db = tmp_path / "cli.duckdb"
    files = [str(f) for f in six_systems]
    runner = CliRunner()
    base = ["compare", *files, "--judge", "fake/hash", "--db", str(db), "--bootstrap", "0"]
    result = runner.invoke(cli, [*base, "--schedule", "adaptive:12", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["stats"]
    assert stats["comparisons"] == 12 and stats["batches"] >= 1
    con = duckdb.connect(str(db), read_only=True)
    outcomes = con.execute("SELECT count(*) FROM outcomes").fetchone()
    schedule = con.execute("SELECT config->>'schedule' FROM runs").fetchone()
    con.close()
    assert outcomes == (12,) and schedule == ("adaptive:12",)
    before = db.read_bytes()
    for bad, message in (
        ("adaptive:-5", "BUDGET must be a positive number"),
        ("adaptive:many", "BUDGET must be a positive number"),
    ):
        refused = runner.invoke(cli, [*base, "--schedule", bad])
        assert refused.exit_code != 0 and message in refused.output, refused.output
    panel = runner.invoke(cli, [*base, "--schedule", "adaptive:5", "--judge", "fake/always-a"])
    assert panel.exit_code == 1 and "adaptive schedules choose pairs while judging" in panel.output
    assert db.read_bytes() == before


def test_expected_misordering_after_an_outcome_matches_monte_carlo() -> None:
    from scipy.special import ndtr

    from judgekit.plan.adaptive import _wrong_after

    rng = np.random.default_rng(0)
    for d, var, moved in ((0.3, 0.5, 0.2), (0.0, 1.0, 0.5), (-1.2, 0.8, 0.05)):
        # The new mean is N(d, moved); the new sd is sqrt(var - moved).
        means = rng.normal(d, np.sqrt(moved), 400_000)
        simulated = np.mean(ndtr(-np.abs(means) / np.sqrt(var - moved)))
        formula = float(_wrong_after(np.array(d), np.array(var), np.array(moved)))
        assert formula == pytest.approx(simulated, abs=2e-3)
    # Nothing learnt: the chance stays Φ(-|d|/sd); everything learnt: it vanishes.
    assert float(_wrong_after(np.array(0.4), np.array(1.0), np.array(0.0))) == pytest.approx(
        float(ndtr(-0.4))
    )
    assert float(_wrong_after(np.array(0.4), np.array(1.0), np.array(1.0))) < 1e-6


def test_discordance_gain_sums_the_drops_of_the_pairs_sharing_a_model() -> None:
    from scipy.special import ndtr

    from judgekit.plan.adaptive import _wrong_after, discordance_gain

    rng = np.random.default_rng(1)
    n = 5
    theta = rng.normal(size=n)
    a = rng.normal(size=(n, n))
    cov = a @ a.T / n + 0.1 * np.eye(n)
    ii, jj = np.triu_indices(n, 1)
    gains = discordance_gain(theta, cov, pairs=(ii, jj))
    for g, i, j in zip(gains, ii, jj, strict=True):
        # By hand: the rank-one update of comparing i and j, then each touched pair's drop.
        x = np.zeros(n)
        x[i], x[j] = 1.0, -1.0
        d = theta[i] - theta[j]
        w = 1.0 / (np.exp(d / 2) + np.exp(-d / 2)) ** 2
        s = cov @ x
        after = cov - np.outer(s, s) * w / (1.0 + w * x @ cov @ x)
        expected = 0.0
        for k, m in {tuple(sorted((p, q))) for p in (i, j) for q in range(n) if q != p}:
            y = np.zeros(n)
            y[k], y[m] = 1.0, -1.0
            var, var_after = y @ cov @ y, y @ after @ y
            diff = theta[k] - theta[m]
            now = ndtr(-abs(diff) / np.sqrt(var))
            expected += now - float(_wrong_after(diff, var, var - var_after))
        assert g == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert np.all(gains >= 0)
    prior = Posterior(np.zeros(4), np.eye(4))
    with pytest.raises(ConfigError, match="unknown criterion"):
        select_pairs(prior, batch=1, rng=batch_rng(0, 0), criterion="entropy")  # type: ignore[arg-type]
    chosen = select_pairs(prior, batch=2, rng=batch_rng(0, 0), criterion="discordance")
    assert len({m for p in chosen for m in p}) == 4  # the batch spreads out here too
