"""AlpacaEval 2's columns and length-controlled GLM, against AlpacaEval's own definition.

Oracles: hand-computed cases, the closed form of a fit with one live feature, and
scikit-learn's liblinear and ``LogisticRegressionCV`` set up exactly as AlpacaEval's
``glm_winrate.py`` sets them up (the peer's own solver, used here only as an oracle).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.errors import InputError
from judgekit.inputs.formats import alpaca_eval as ae_io
from judgekit.rank.peers import alpaca_eval as ae

BOARD_COLUMNS = ["model", *ae.LEADERBOARD_COLUMNS]


def test_head_to_head_matches_alpaca_evals_scoring_rules_by_hand() -> None:
    # 0 is an old-style draw, NaN a failed annotation, 1.3/1.7 weighted preferences.
    prefs = [1.9632, 2.0, 1.0, math.nan, 1.5, 0.0, 1.3, 1.7]
    out = ae.head_to_head(prefs)
    y = np.array([0.9632, 1.0, 0.0, 0.5, 0.5, 0.3, 0.7])
    assert out["win_rate"] == pytest.approx(100 * y.mean())
    assert out["standard_error"] == pytest.approx(100 * y.std(ddof=1) / math.sqrt(7))
    assert (out["n_wins"], out["n_wins_base"], out["n_draws"], out["n_total"]) == (3, 2, 2, 7)
    # Discrete: 1.9632→win, 2→win, 1→loss, draws ½, 1.3→loss, 1.7→win.
    assert out["discrete_win_rate"] == pytest.approx(100 * (1 + 1 + 0 + 0.5 + 0.5 + 0 + 1) / 7)


def _duplicated(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """AlpacaEval's trick: each row twice, label 1 weighted y·w and label 0 weighted (1−y)·w."""
    n = len(y)
    return np.vstack([x, x]), np.r_[np.ones(n), np.zeros(n)], np.r_[y * w, (1 - y) * w]


def _problem(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.tanh(rng.normal(size=n)), rng.normal(size=n), np.ones(n)])
    y = 1 / (1 + np.exp(-(x @ [0.8, -0.5, 0.3] + rng.normal(size=n))))
    w = np.where(np.arange(n) < n // 3, 0.1, 1.0)  # gamed rows first, weight λ/2
    return x, y, w


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize("c", [0.0464, 0.3594, 2.7826, 21.544])
def test_l1_logistic_equals_liblinear_on_the_duplicated_rows(c: float) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    x, y, w = _problem(0)
    xd, yd, sd = _duplicated(x, y, w)
    oracle = linear_model.LogisticRegression(
        C=c, penalty="l1", solver="liblinear", fit_intercept=False, tol=1e-10, max_iter=10_000
    ).fit(xd, yd, sample_weight=sd)
    np.testing.assert_allclose(ae.l1_logistic(x, y, w, c=c), oracle.coef_[0], atol=2e-5)


def test_group_folds_deal_rows_as_group_kfold_does() -> None:
    model_selection = pytest.importorskip("sklearn.model_selection")
    n = 23
    groups = np.r_[np.arange(n), np.arange(n)]  # each row and its duplicate: one group
    folds = ae.group_folds(n)
    for f, (_, test) in enumerate(
        model_selection.GroupKFold(n_splits=5).split(groups, groups=groups)
    ):
        assert set(groups[test]) == set(np.flatnonzero(folds == f))


def test_cv_l1_logistic_equals_alpaca_evals_logistic_regression_cv() -> None:
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    x, y, w = _problem(1, n=300)
    xd, yd, sd = _duplicated(x, y, w)
    true_prob = np.r_[y, 1 - y]

    def logloss_continuous(y_true, y_pred, true_prob, true_sample_weight=None):  # type: ignore[no-untyped-def]
        target = np.where(y_true == 1, true_prob, 1 - true_prob)
        q = np.clip(y_pred, 1e-15, 1 - 1e-15)
        loss = (target * np.log(q) + (1 - target) * np.log(1 - q)) * true_sample_weight
        return -np.mean(loss)

    with sklearn.config_context(enable_metadata_routing=True):
        scorer = make_scorer(
            logloss_continuous, response_method="predict_proba", greater_is_better=False
        ).set_score_request(true_sample_weight=True, true_prob=True)
        oracle = LogisticRegressionCV(
            cv=GroupKFold(n_splits=5),
            scoring=scorer,
            penalty="l1",
            solver="liblinear",
            fit_intercept=False,
            random_state=123,
            tol=1e-10,
            max_iter=10_000,
        )
        oracle.set_fit_request(sample_weight=True)
        with warnings.catch_warnings():
            # scikit-learn's own deprecation notes about `penalty`, not ours.
            warnings.simplefilter("ignore")
            oracle.fit(
                xd,
                yd,
                sample_weight=sd,
                groups=np.r_[np.arange(len(y)), np.arange(len(y))],
                true_sample_weight=np.r_[w, w],
                true_prob=true_prob,
            )
    coef, c = ae.cv_l1_logistic(x, y, w)
    assert c == pytest.approx(float(oracle.C_[0]))
    np.testing.assert_allclose(coef, oracle.coef_[0], atol=2e-5)


def _rows(model: str, prefs: np.ndarray, len_1: np.ndarray, len_2: np.ndarray) -> pd.DataFrame:
    n = len(prefs)
    return pd.DataFrame(
        {
            "model": model,
            "baseline": "base",
            "instruction": [f"q{i}" for i in range(n)],
            "position": np.arange(n),
            "preference": prefs,
            "len_1": len_1,
            "len_2": len_2,
        }
    )


def test_two_model_glm_has_the_closed_form_when_only_the_model_term_is_live() -> None:
    # Equal lengths (tanh(0) = 0) and zero difficulty leave one live column, the model's:
    # the optimum of ‖w‖₁ + C·Σ loss solves σ(w₀) = ȳ − 1/(C·n) (for ȳ > ½).
    rng = np.random.default_rng(3)
    n = 200
    prefs = 1.0 + rng.uniform(0.2, 1.0, n)
    rows = _rows("m", prefs, np.full(n, 500), np.full(n, 500))
    difficulty = pd.Series(0.0, index=rows["instruction"])
    lc = ae.length_controlled(rows, difficulty)
    y_bar = float((prefs - 1).mean())
    expected = y_bar - 1 / (lc["C"] * n)
    assert lc["length_controlled_winrate"] == pytest.approx(100 * expected, abs=1e-6)
    assert lc["lc_standard_error"] == pytest.approx(0.0, abs=1e-9)  # one prediction for all
    assert lc["w_len"] == 0.0 and lc["w_difficulty"] == 0.0


def _synthetic_annotations(seed: int, *, n_items: int = 300) -> pd.DataFrame:
    """Models of known skill judged by a length-loving judge: P(win) = σ(θ + 1.5·tanh(−Δ/sd)
    − 0.7·difficulty), with the baseline's verbose and concise variants (skill 0)."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(size=n_items)
    len_1 = rng.integers(300, 3000, n_items)
    frames = []
    for model, skill, scale in [
        ("equal_but_long", 0.0, 2.5),
        ("equal_but_short", 0.0, 0.4),
        ("better", 1.0, 1.0),
        ("base_verbose", 0.0, 1.8),
        ("base_concise", 0.0, 0.5),
    ]:
        len_2 = np.maximum(1, (len_1 * scale * rng.lognormal(0, 0.3, n_items)).astype(int))
        delta = (len_1 - len_2) / np.std(len_1 - len_2, ddof=1)
        p = 1 / (1 + np.exp(-(skill - 1.5 * np.tanh(delta) - 0.7 * difficulty)))
        frames.append(_rows(model, 1.0 + p, len_1, len_2))
    return pd.concat(frames, ignore_index=True)


def test_length_control_removes_a_length_bias_of_known_size() -> None:
    board = ae.alpaca_eval_leaderboard(_synthetic_annotations(5)).set_index("model")
    long, short = board.loc["equal_but_long"], board.loc["equal_but_short"]
    assert long["win_rate"] > 65 and short["win_rate"] < 35  # the raw rate follows length
    # Equal skill: held at equal length, both sit near the baseline's 50.
    assert abs(long["length_controlled_winrate"] - 50) < 5
    assert abs(short["length_controlled_winrate"] - 50) < 5
    assert board.loc["better", "length_controlled_winrate"] > 60
    assert list(board.columns) == ae.LEADERBOARD_COLUMNS
    assert (board["lc_standard_error"] > 0).all()


def test_gamed_rows_regularise_towards_the_baseline_as_in_alpaca_eval() -> None:
    annotations = _synthetic_annotations(6)
    difficulty = ae.instruction_difficulty(annotations)
    gamed = ae.gamed_rows(annotations, difficulty)
    assert len(gamed) == 2 * 300  # the verbose and concise variants' rows
    rows = annotations[annotations["model"] == "better"]
    with_reg = ae.length_controlled(rows, difficulty, gamed=gamed)
    without = ae.length_controlled(rows, difficulty, gamed=None)
    # The regulariser changes the fit, not the order of magnitude.
    assert with_reg["w_len"] != pytest.approx(without["w_len"])
    assert abs(with_reg["length_controlled_winrate"] - without["length_controlled_winrate"]) < 5


def test_instruction_difficulty_recovers_the_true_ordering() -> None:
    annotations = _synthetic_annotations(7, n_items=200)
    rng = np.random.default_rng(7)
    truth = rng.normal(size=200)  # the same draw _synthetic_annotations made first
    estimate = ae.instruction_difficulty(annotations).reindex([f"q{i}" for i in range(200)])
    # The judge's log-odds fall by 0.7 per unit of difficulty: effects are −0.7·truth + c.
    assert np.corrcoef(estimate.to_numpy(), truth)[0, 1] < -0.8
    assert estimate.iloc[0] == 0.0  # the first instruction is the reference


def _write_annotations(directory: Path, annotations: pd.DataFrame) -> list[Path]:
    paths = []
    for model, group in annotations.groupby("model"):
        rows = [
            {
                "instruction": r.instruction,
                "output_1": "a" * int(r.len_1),
                "generator_1": r.baseline,
                "output_2": "b" * int(r.len_2),
                "generator_2": model,
                "annotator": "weighted_alpaca_eval_gpt4_turbo",
                "preference": None if math.isnan(r.preference) else float(r.preference),
            }
            for r in group.itertuples()
        ]
        path = directory / f"{model}" / "annotations.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(rows))
        paths.append(path)
    return paths


def test_score_alpaca_eval_cli_reads_the_files_and_prints_the_peer_columns(
    tmp_path: Path,
) -> None:
    annotations = _synthetic_annotations(8, n_items=120)
    annotations.loc[3, "preference"] = math.nan  # a failed annotation
    paths = _write_annotations(tmp_path, annotations)
    read = pd.concat([ae_io.read_alpaca_eval_preferences(p) for p in paths], ignore_index=True)
    pd.testing.assert_frame_equal(
        read.sort_values(["model", "position"]).reset_index(drop=True),
        annotations.sort_values(["model", "position"]).reset_index(drop=True),
        check_dtype=False,
    )
    out = tmp_path / "leaderboard.csv"
    result = CliRunner().invoke(
        cli, ["score", "alpaca-eval", *map(str, paths), "--json", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [list(r) for r in rows] == [BOARD_COLUMNS] * 5
    expected = ae.alpaca_eval_leaderboard(read)
    got = pd.DataFrame(rows)
    np.testing.assert_allclose(
        got["length_controlled_winrate"], expected["length_controlled_winrate"]
    )
    # The CSV is AlpacaEval's own leaderboard format and reads back.
    board = ae_io.read_alpaca_eval_leaderboard(out)
    np.testing.assert_allclose(board["win_rate"], got["win_rate"])
    assert board.loc[board["model"] == "better", "n_total"].item() == 120
    table = CliRunner().invoke(cli, ["score", "alpaca-eval", *map(str, paths)])
    assert "length_controlled_winrate" in table.output and "equal_but_long" in table.output


def test_a_published_difficulty_table_is_used_by_row(tmp_path: Path) -> None:
    annotations = _synthetic_annotations(9, n_items=100)
    paths = _write_annotations(tmp_path, annotations)
    table = tmp_path / "instruction_difficulty.csv"
    table.write_text(",instruction_difficulty\n" + "".join(f"{i},{0.01 * i}\n" for i in range(100)))
    difficulty = ae_io.read_instruction_difficulty(table)
    assert difficulty[7] == pytest.approx(0.07)
    result = CliRunner().invoke(
        cli,
        [
            "score",
            "alpaca-eval",
            *map(str, paths),
            "--json",
            "--instruction-difficulty",
            str(table),
        ],
    )
    assert result.exit_code == 0, result.output
    expected = ae.alpaca_eval_leaderboard(annotations, difficulty=difficulty)
    got = pd.DataFrame(json.loads(result.stdout))
    np.testing.assert_allclose(
        got["length_controlled_winrate"], expected["length_controlled_winrate"]
    )


def test_malformed_annotations_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "annotations.json"
    rows = [
        {
            "instruction": "q",
            "output_1": "a",
            "generator_1": "base",
            "output_2": "b",
            "generator_2": "m",
            "preference": p,
        }
        for p in (1.0, 2.5)
    ]
    path.write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"annotations\.json:2: preference 2\.5 is outside"):
        ae_io.read_alpaca_eval_preferences(path)
    result = CliRunner().invoke(cli, ["score", "alpaca-eval", str(path)])
    assert result.exit_code == 1 and "annotations.json:2:" in result.output


def _store_run(tmp_path: Path, paths: list[Path]) -> tuple[Path, str]:
    """The annotation files stored as a judgekit run (outcomes and answers), via import."""
    from judgekit.inputs.formats import outputs_frame
    from judgekit.store.db import open_store
    from judgekit.views.export import import_run

    outcomes = pd.concat([ae_io.read_alpaca_eval_annotations(p) for p in paths])
    answers = []
    for side in ("1", "2"):
        model = outcomes["model_a"] if side == "1" else outcomes["model_b"]
        answers.append(
            pd.DataFrame(
                {
                    "prompt_id": outcomes["prompt_id"],
                    "prompt": outcomes["instruction"],
                    "model": model,
                    "output": outcomes[f"output_{side}"],
                    "reference": None,
                    "category": None,
                }
            )
        )
    outputs = outputs_frame(
        pd.concat(answers).drop_duplicates(["prompt_id", "model"]).to_dict("records")
    )
    db = tmp_path / "j.duckdb"
    with open_store(db) as store:
        run_id = import_run(
            store,
            outcomes=outcomes.reset_index(drop=True),
            outputs=outputs,
            source="annotations",
            judge="weighted_alpaca_eval_gpt4_turbo",
            bootstrap=0,
        )
    return db, run_id


def test_score_a_stored_run_and_export_its_leaderboard_the_alpaca_eval_way(
    tmp_path: Path,
) -> None:
    annotations = _synthetic_annotations(10, n_items=80)
    annotations = annotations[annotations["model"].isin(["better", "equal_but_long"])]
    paths = _write_annotations(tmp_path / "files", annotations)
    db, run_id = _store_run(tmp_path, paths)
    result = CliRunner().invoke(
        cli, ["score", "alpaca-eval", "--db", str(db), "--baseline", "base", "--json"]
    )
    assert result.exit_code == 0, result.output
    stored = pd.DataFrame(json.loads(result.stdout)).set_index("model")
    assert list(stored.reset_index().columns) == BOARD_COLUMNS
    from_files = ae.alpaca_eval_leaderboard(annotations).set_index("model")
    for model in ("better", "equal_but_long"):
        # The same preferences and lengths: the raw columns are equal; the LC fit differs
        # only by the order in which instructions come (the difficulty's reference).
        assert stored.loc[model, "win_rate"] == pytest.approx(from_files.loc[model, "win_rate"])
        assert stored.loc[model, "n_total"] == from_files.loc[model, "n_total"]
        assert stored.loc[model, "length_controlled_winrate"] == pytest.approx(
            from_files.loc[model, "length_controlled_winrate"], abs=1.0
        )
    assert stored.loc["base", "length_controlled_winrate"] == 50.0

    out = tmp_path / "export" / "annotations.json"
    exported = CliRunner().invoke(
        cli,
        [
            *("export", "--db", str(db), "--run", run_id, "--format", "alpaca-eval"),
            *("--baseline", "base", "-o", str(out)),
        ],
    )
    assert exported.exit_code == 0, exported.output
    board = ae_io.read_alpaca_eval_leaderboard(out.with_name("leaderboard.csv")).set_index("model")
    np.testing.assert_allclose(
        board.loc[stored.index, "length_controlled_winrate"],
        stored["length_controlled_winrate"],
    )
