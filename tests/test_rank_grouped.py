"""Battles grouped into distinct rows and counts give exactly the row-by-row results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.rank import rank
from judgekit.errors import ConfigError
from judgekit.inputs.battles import load_battles, load_grouped_battles
from judgekit.rank import PairwiseData, bradley_terry
from judgekit.rank.grouped import GroupedPairwiseData
from judgekit.rank.leaderboard import win_rates

LABELS = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])


def arena_frame(*, n_models: int = 8, n_battles: int = 4000, seed: int = 3) -> pd.DataFrame:
    """Battles from known strengths, with both kinds of tie and every pair in both orders."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    p_a = 1.0 / (1.0 + np.exp(theta[b] - theta[a]))
    u = rng.random(n_battles)
    label = np.where(
        u < 0.15, np.where(u < 0.05, 3, 2), np.where(rng.random(n_battles) < p_a, 0, 1)
    )
    names = np.array([f"model-{k}" for k in range(n_models)])
    return pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": LABELS[label]})


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "battles.parquet"
    arena_frame().to_parquet(path)
    return path


def test_grouped_file_has_the_counts_and_units_of_every_row(parquet: Path) -> None:
    grouped = load_grouped_battles(parquet)
    full = load_battles(parquet)
    assert grouped is not None
    assert len(grouped) == len(full) == 4000
    assert len(grouped.rows) <= 8 * 7 * 4  # ordered pairs x labels
    assert grouped.models == full.models
    want, got = full.aggregate(), grouped.aggregate()
    for field in ("i", "j", "stats", "unit_pair", "unit_count", "unit_stats", "rows_per_model"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)


@pytest.mark.parametrize("ties", ["half", "davidson"])
def test_bradley_terry_and_its_bootstrap_are_bit_identical(parquet: Path, ties: str) -> None:
    grouped = load_grouped_battles(parquet)
    full = load_battles(parquet)
    assert grouped is not None
    got = bradley_terry(grouped, ties=ties, bootstrap=200, seed=7)
    want = bradley_terry(full, ties=ties, bootstrap=200, seed=7)
    assert got.rating == want.rating
    assert got.ci_low == want.ci_low and got.ci_high == want.ci_high
    assert got.extras["n_comparisons"] == 4000


def test_win_rates_count_every_battle(parquet: Path) -> None:
    grouped = load_grouped_battles(parquet)
    assert grouped is not None
    got, want = win_rates(grouped), win_rates(load_battles(parquet))
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    assert got["n"].sum() == 2 * 4000


def test_count_equals_repeating_weighted_soft_rows() -> None:
    # Weights and soft outcomes take the other branches of the aggregation.
    rng = np.random.default_rng(0)
    n_rows = 40
    a = rng.integers(0, 5, n_rows)
    b = (a + rng.integers(1, 5, n_rows)) % 5
    win_a = rng.choice([0.0, 0.25, 1.0], n_rows)
    tie = np.where(win_a == 0.25, 0.5, 0.0)
    arrays = {"a": a, "b": b, "win_a": win_a, "win_b": 1.0 - win_a - tie, "tie": tie}
    weight = rng.choice([1.0, 2.0, 3.0], n_rows)
    count = rng.integers(1, 6, n_rows)
    models = [f"m{k}" for k in range(5)]
    rows = PairwiseData.from_arrays(models=models, weight=weight, **arrays)
    repeated = PairwiseData.from_arrays(
        models=models,
        weight=np.repeat(weight, count),
        **{k: np.repeat(v, count) for k, v in arrays.items()},
    )
    got, want = rows.aggregate(count=count), repeated.aggregate()
    np.testing.assert_allclose(got.stats, want.stats, rtol=1e-12)
    np.testing.assert_array_equal(got.rows_per_model, want.rows_per_model)

    def units(c: object) -> list[tuple[float, ...]]:
        return sorted(
            (float(p), float(n), *map(float, s))
            for p, n, s in zip(c.unit_pair, c.unit_count, c.unit_stats, strict=True)  # type: ignore[attr-defined]
        )

    assert units(got) == units(want)


def test_grouped_rows_reject_bad_counts_and_features() -> None:
    rows = PairwiseData.from_arrays(models=["x", "y"], a=[0], b=[1], win_a=[1], win_b=[0], tie=[0])
    with pytest.raises(ConfigError, match="at least once"):
        GroupedPairwiseData.from_rows(rows, [0])
    with pytest.raises(ConfigError, match="needs 1 entries"):
        GroupedPairwiseData.from_rows(rows, [1, 2])


@pytest.mark.parametrize(
    "change",
    [
        {"weight": 2.0},  # weights: units would depend on row order
        {"model_b": ""},  # blank name
        {"model_b": "model-0", "model_a": "model-0"},  # self-battle
        {"winner": "model_c"},  # unknown label
        {"winner": None},  # missing label
    ],
    ids=["weight", "blank", "self", "label", "null"],
)
def test_files_the_grouped_reader_declines(tmp_path: Path, change: dict[str, object]) -> None:
    frame = arena_frame(n_battles=50)
    for column, value in change.items():
        frame.loc[17, column] = value
    path = tmp_path / "b.parquet"
    frame.to_parquet(path)
    assert load_grouped_battles(path) is None


def test_other_formats_are_read_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    arena_frame(n_battles=30).to_csv(path, index=False)
    assert load_grouped_battles(path) is None
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    assert load_grouped_battles(broken) is None


def test_cli_error_still_names_the_row(tmp_path: Path) -> None:
    frame = arena_frame(n_battles=50)
    frame.loc[17, "winner"] = "model_c"
    path = tmp_path / "b.parquet"
    frame.to_parquet(path)
    result = CliRunner().invoke(JudgekitGroup(commands={"rank": rank}), ["rank", str(path)])
    assert result.exit_code != 0
    assert "b.parquet" in result.output and "18" in result.output  # 1-based row
    assert "unknown winner label" in result.output and "'model_c'" in result.output


def test_cli_board_equals_the_csv_board(tmp_path: Path) -> None:
    # The CSV goes row by row, the Parquet file grouped: one board.
    frame = arena_frame()
    frame.to_csv(tmp_path / "b.csv", index=False)
    frame.to_parquet(tmp_path / "b.parquet")
    runner = CliRunner()
    boards = []
    for name in ("b.csv", "b.parquet"):
        args = ["rank", str(tmp_path / name), "--bootstrap", "100", "--json"]
        result = runner.invoke(JudgekitGroup(commands={"rank": rank}), args)
        assert result.exit_code == 0, result.output
        boards.append(json.loads(result.output))
    assert boards[0]["leaderboard"] == boards[1]["leaderboard"]
