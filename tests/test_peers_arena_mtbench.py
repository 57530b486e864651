"""arena-hard-auto's and FastChat MT-Bench's show_result.py, reproduced on small files.

Oracles: hand-computed battles and rates, one bootstrap round redrawn by hand with the
same RandomState, and scikit-learn's LogisticRegression set up as arena-hard sets it up
(its own solver, as a test-only oracle).
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
from judgekit.inputs.formats import arena_hard as ah_io
from judgekit.rank.peers import arena_hard as ah
from judgekit.rank.peers import mtbench as mt

# -- arena-hard -----------------------------------------------------------------------------


def _judgment(qid: str, model: str, g1: str | None, g2: str | None) -> dict[str, object]:
    """A v0.1 judgment line: game 1 shows the baseline as A, game 2 the model as A."""
    return {
        "question_id": qid,
        "model": model,
        "judge": "gpt-4-1106-preview",
        "games": [{"score": g1, "judgment": "…"}, {"score": g2, "judgment": "…"}],
    }


def _answer(qid: str, model: str, tokens: int, headers: int, lists: int, bold: int) -> dict:
    return {
        "question_id": qid,
        "answer_id": f"{model}-{qid}",
        "model_id": model,
        "choices": [{"index": 0, "turns": [{"content": "x", "token_len": tokens}]}],
        "conv_metadata": {
            "token_len": tokens,
            "header_count": {"h1": headers, "h2": 0},
            "list_count": {"ordered": lists, "unordered": 0},
            "bold_count": {"**": bold, "__": 0},
        },
    }


HAND = [
    # m1: game 1 A>>B (baseline strongly) + game 2 A>B (m1 wins): 3 baseline wins, 1 m1 win
    ("q1", "m1", "A>>B", "A>B"),
    # game 1 B>A (m1 wins), game 2 A=B (tie)
    ("q2", "m1", "B>A", "A=B"),
    # game 1 fails (null), game 2 B>>A (the baseline strongly): only game 2 counts, 3 times
    ("q3", "m1", None, "B>>A"),
    ("q1", "m2", "B>>A", "A>>B"),  # m2 wins both strongly: 6 m2 wins
    ("q2", "m2", "B>A", "B>A"),  # game 1: m2 (B) wins; game 2: the baseline (B) wins
]


def _write_judgments(directory: Path, rows: list[tuple]) -> list[Path]:
    by_model: dict[str, list[dict]] = {}
    for qid, model, g1, g2 in rows:
        by_model.setdefault(model, []).append(_judgment(qid, model, g1, g2))
    paths = []
    for model, lines in by_model.items():
        path = directory / "model_judgment" / "gpt-4-1106-preview" / f"{model}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        paths.append(path)
    return paths


def test_battles_follow_arena_hards_weights_by_hand(tmp_path: Path) -> None:
    verdicts = ah_io.read_arena_hard_judgments(
        _write_judgments(tmp_path, HAND), baseline="gpt-4-0314"
    )
    battles = ah.battles_from_verdicts(verdicts)
    counts = battles.groupby(["model_b", "winner"]).size().to_dict()
    assert counts == {
        ("m1", "model_a"): 3 + 3,  # q1 game 1 and q3 game 2, strong: 3 rows each
        ("m1", "model_b"): 1 + 1,  # q1 game 2 and q2 game 1
        ("m1", "tie"): 1,  # q2 game 2; q3 game 1 has no verdict and gives nothing
        ("m2", "model_b"): 3 + 3 + 1,
        ("m2", "model_a"): 1,
    }
    board = ah.arena_hard_leaderboard(verdicts, baseline="gpt-4-0314", rounds=5)
    scores = board.set_index("model")["score"]
    # The doubled battles: m1 scores 2 per win and 1 per tie over 2·9 rows.
    assert scores["m1"] == round(100 * (2 * 2 + 1) / (2 * 9), 2)
    assert scores["m2"] == round(100 * (2 * 7) / (2 * 8), 2) == 87.5
    assert scores["gpt-4-0314"] == 50.0
    assert list(board.columns) == ah.COLUMNS


def test_star_fit_equals_arena_hards_unpenalised_logistic_regression(tmp_path: Path) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    labels = ["A>>B", "A>B", "A=B", "B>A", "B>>A"]
    rows = [
        (f"q{q}", m, labels[rng.integers(5)], labels[rng.integers(5)])
        for m in ("m1", "m2", "m3")
        for q in range(40)
    ]
    verdicts = ah_io.read_arena_hard_judgments(
        _write_judgments(tmp_path, rows), baseline="gpt-4-0314"
    )
    battles = ah.battles_from_verdicts(verdicts)
    models = list(pd.unique(pd.concat([battles["model_a"], battles["model_b"]])))
    # arena-hard's design: doubled battles, ±ln 10, a tie as one win for each side.
    doubled = pd.concat([battles, battles], ignore_index=True)
    x = np.zeros((len(doubled), len(models)))
    x[np.arange(len(doubled)), doubled["model_a"].map(models.index)] = math.log(10)
    x[np.arange(len(doubled)), doubled["model_b"].map(models.index)] = -math.log(10)
    y = (doubled["winner"] == "model_a").to_numpy(dtype=float)
    tie = (doubled["winner"] == "tie").to_numpy().copy()
    tie[len(tie) // 2 :] = False
    y[tie] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr = linear_model.LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10)
        lr.fit(x, y)
    elo = 400 * lr.coef_[0]
    expected = {m: 100 / (1 + 10 ** ((elo[0] - elo[i]) / 400)) for i, m in enumerate(models)}
    board = ah.arena_hard_leaderboard(verdicts, baseline="gpt-4-0314", rounds=3)
    for row in board.itertuples():
        assert row.score == pytest.approx(round(expected[row.model], 2), abs=0.011)


def test_one_bootstrap_round_redrawn_by_hand(tmp_path: Path) -> None:
    verdicts = ah_io.read_arena_hard_judgments(
        _write_judgments(tmp_path, HAND), baseline="gpt-4-0314"
    )
    battles = ah.battles_from_verdicts(verdicts)
    board = ah.arena_hard_leaderboard(verdicts, baseline="gpt-4-0314", rounds=1, seed=7)
    picked = battles.iloc[np.random.RandomState(7).choice(len(battles), len(battles))]
    for model in ("m1", "m2"):
        mine = picked[picked["model_b"] == model]["winner"]
        share = ((mine == "model_b").sum() + 0.5 * (mine == "tie").sum()) / len(mine)
        expected = round(100 * share, 2)
        row = board.set_index("model").loc[model]
        # One round: both percentiles are that round's rating.
        assert row["lower"] == pytest.approx(expected) and row["upper"] == pytest.approx(expected)


def test_style_control_fit_equals_scikit_learns_default_logistic_regression() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    x = np.column_stack([rng.normal(size=(300, 3)), rng.normal(size=(300, 2))])
    y = (rng.random(300) < 1 / (1 + np.exp(-x @ [1, -1, 0.5, 0.8, -0.3]))).astype(float)
    oracle = linear_model.LogisticRegression(fit_intercept=False, tol=1e-10).fit(x, y)
    np.testing.assert_allclose(ah.l2_logistic(x, y), oracle.coef_[0], atol=1e-5)


def _style_files(tmp_path: Path) -> tuple[list[Path], list[Path]]:
    rng = np.random.default_rng(2)
    rows, answers = [], {"gpt-4-0314": [], "long": [], "short": []}
    for q in range(60):
        qid = f"q{q}"
        base_tokens = int(rng.integers(200, 600))
        answers["gpt-4-0314"].append(_answer(qid, "gpt-4-0314", base_tokens, 1, 2, 1))
        # Lengths overlap, so that length and model identity can be told apart.
        for model, low, high in (("long", 0.6, 2.6), ("short", 0.4, 1.6)):
            tokens = int(base_tokens * rng.uniform(low, high))
            answers[model].append(_answer(qid, model, tokens, int(rng.integers(0, 4)), 3, 2))
            # A length-loving judge: the longer answer tends to win both games.
            longer_wins = rng.random() < (0.85 if tokens > base_tokens else 0.15)
            g1, g2 = ("B>A", "A>B") if longer_wins else ("A>B", "B>A")
            rows.append((qid, model, g1, g2))
    judgment_paths = _write_judgments(tmp_path, rows)
    answer_paths = []
    for model, lines in answers.items():
        path = tmp_path / "model_answer" / f"{model}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(a) + "\n" for a in lines))
        answer_paths.append(path)
    return judgment_paths, answer_paths


def test_score_arena_hard_cli_with_and_without_style_control(tmp_path: Path) -> None:
    judgments, answers = _style_files(tmp_path)
    answer_args = [a for p in answers for a in ("--answers", str(p))]
    plain = CliRunner().invoke(
        cli, ["score", "arena-hard", *map(str, judgments), *answer_args, "--json"]
    )
    assert plain.exit_code == 0, plain.output
    rows = json.loads(plain.stdout)
    assert [list(r) for r in rows] == [ah.COLUMNS] * 3
    by_model = {r["model"]: r for r in rows}
    assert by_model["long"]["score"] > by_model["short"]["score"] + 15
    assert by_model["long"]["lower"] <= by_model["long"]["score"] <= by_model["long"]["upper"]
    metadata = ah_io.read_arena_hard_answer_metadata(answers)
    assert by_model["long"]["avg_tokens"] == int(
        metadata[metadata["model"] == "long"]["token_len"].mean()
    )
    controlled = CliRunner().invoke(
        cli,
        ["score", "arena-hard", *map(str, judgments), *answer_args, "--style-control", "--json"],
    )
    assert controlled.exit_code == 0, controlled.output
    styled = {r["model"]: r for r in json.loads(controlled.stdout)}
    # With length held equal the two models move towards each other.
    gap_plain = by_model["long"]["score"] - by_model["short"]["score"]
    assert abs(styled["long"]["score"] - styled["short"]["score"]) < gap_plain
    # v2.0's show_result on the same battles: its own style fit also narrows the gap.
    v2_plain = CliRunner().invoke(
        cli,
        ["score", "arena-hard", *map(str, judgments), "--show-result", "v2.0", "--json"],
    )
    v2_styled = CliRunner().invoke(
        cli,
        [
            *("score", "arena-hard", *map(str, judgments), *answer_args),
            *("--show-result", "v2.0", "--style-control", "--json"),
        ],
    )
    assert v2_plain.exit_code == 0 and v2_styled.exit_code == 0, v2_styled.output
    v2p = {r["model"]: r["score"] for r in json.loads(v2_plain.stdout)}
    v2s = {r["model"]: r["score"] for r in json.loads(v2_styled.stdout)}
    assert abs(v2s["long"] - v2s["short"]) < abs(v2p["long"] - v2p["short"])
    no_answers = CliRunner().invoke(
        cli, ["score", "arena-hard", *map(str, judgments), "--style-control"]
    )
    assert no_answers.exit_code == 2 and "--answers" in no_answers.output


def test_score_arena_hard_reads_the_v2_files_of_the_repo() -> None:
    folder = Path(__file__).parent / "data" / "formats" / "arena_hard" / "v2.0"
    files = [str(p) for p in (folder / "model_judgment").rglob("*.jsonl")]
    result = CliRunner().invoke(cli, ["score", "arena-hard", *files, "--json", "--rounds", "10"])
    assert result.exit_code == 0, result.output
    assert {r["model"] for r in json.loads(result.stdout)} >= {"o3-mini-2025-01-31"}


# -- MT-Bench -------------------------------------------------------------------------------


def test_single_mode_means_per_turn_and_overall_by_hand() -> None:
    scores = pd.DataFrame(
        {
            "model": ["a", "a", "a", "a", "b", "b"],
            "turn": [1, 1, 2, 2, 1, 2],
            "score": [8, 6, 4, -1, 9, 7],
        }
    )
    board = mt.single_board(scores).set_index("model")
    assert board.loc["a"].tolist() == [7.0, 4.0, 6.0]  # the -1 is dropped everywhere
    assert board.loc["b"].tolist() == [9.0, 7.0, 8.0]
    assert list(board.reset_index().columns) == mt.SINGLE_COLUMNS


def _pair_lines() -> list[dict[str, object]]:
    def line(qid: int, m1: str, m2: str, g1: str, g2: str, turn: int = 1) -> dict[str, object]:
        return {
            "question_id": qid,
            "model_1": m1,
            "model_2": m2,
            "g1_winner": g1,
            "g2_winner": g2,
            "judge": ["gpt-4", "pair-v2"],
            "turn": turn,
        }

    return [
        line(81, "vicuna", "gpt-3.5-turbo", "model_1", "model_1"),  # vicuna wins
        line(82, "vicuna", "gpt-3.5-turbo", "model_1", "model_2"),  # inconsistent: tie
        line(83, "vicuna", "gpt-3.5-turbo", "tie", "tie"),  # tie
        line(81, "vicuna", "gpt-3.5-turbo", "model_2", "model_2", turn=2),  # vicuna loses
        line(84, "vicuna", "gpt-3.5-turbo", "error", "model_1"),  # dropped
        line(81, "alpaca", "vicuna", "model_2", "model_2"),  # not against the baseline
        line(82, "alpaca", "gpt-3.5-turbo", "model_2", "model_2"),  # alpaca loses
    ]


def test_pairwise_modes_count_as_fastchat_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "gpt-4_pair.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _pair_lines()))
    result = CliRunner().invoke(cli, ["score", "mtbench", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["model"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"vicuna", "alpaca"}  # the baseline's row is left out
    v = rows["vicuna"]
    assert (v["win"], v["loss"], v["tie"]) == (1, 1, 2)
    assert v["win_rate_adjusted"] == pytest.approx((1 + 0.5 * 2) / 4)
    assert v["loss_rate"] == pytest.approx(0.25)
    assert (rows["alpaca"]["win"], rows["alpaca"]["loss"]) == (0, 1)
    every = CliRunner().invoke(
        cli, ["score", "mtbench", str(path), "--mode", "pairwise-all", "--json"]
    )
    rows = {r["model"]: r for r in json.loads(every.stdout)}
    assert (rows["vicuna"]["win"], rows["vicuna"]["loss"], rows["vicuna"]["tie"]) == (2, 1, 2)
    assert (rows["gpt-3.5-turbo"]["win"], rows["gpt-3.5-turbo"]["loss"]) == (2, 1)
    assert list(rows["alpaca"]) == mt.PAIR_COLUMNS


def test_score_mtbench_reads_the_repo_files_both_ways() -> None:
    folder = Path(__file__).parent / "data" / "formats" / "mtbench" / "model_judgment"
    single = CliRunner().invoke(cli, ["score", "mtbench", str(folder / "gpt-4_single.jsonl")])
    assert single.exit_code == 0, single.output
    assert "score_turn_1" in single.output
    pair = CliRunner().invoke(
        cli, ["score", "mtbench", str(folder / "gpt-4_pair.jsonl"), "--mode", "pairwise-all"]
    )
    assert pair.exit_code == 0, pair.output
    bad = CliRunner().invoke(
        cli, ["score", "mtbench", str(folder / "gpt-4_single.jsonl"), "--mode", "pairwise-all"]
    )
    assert bad.exit_code == 2 and "pair judgment files" in bad.output


# -- arena-hard v2.0 ------------------------------------------------------------------------


def _v2_files(tmp_path: Path, rows: list[tuple]) -> list[Path]:
    by_model: dict[str, list[dict]] = {}
    for uid, model, g1, g2 in rows:
        by_model.setdefault(model, []).append(
            {
                "uid": uid,
                "category": "hard_prompt",
                "judge": "gpt-4.1",
                "model": model,
                "baseline": "o3-mini",
                "games": [{"score": g1}, {"score": g2}],
            }
        )
    paths = []
    for model, lines in by_model.items():
        path = tmp_path / "v2" / f"{model}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        paths.append(path)
    return paths


def test_v2_scores_and_one_bootstrap_round_by_hand(tmp_path: Path) -> None:
    from judgekit.rank.peers import arena_hard_v2 as v2

    rows = [
        ("u1", "m", "A>>B", "A>B"),  # game 2 (model is A) won: 1; game 1 lost strongly: 0,0,0
        ("u2", "m", "B>A", "A=B"),  # game 2 tie: 0.5; game 1 won: 1
        ("u3", "m", None, "B>>A"),  # a failed game drops the whole judgment
    ]
    paths = _v2_files(tmp_path, rows)
    verdicts = ah_io.read_arena_hard_judgments(paths)
    scores = v2.scores_from_verdicts(verdicts)
    assert scores["score"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.5, 1.0]
    result = CliRunner().invoke(
        cli, ["score", "arena-hard", *map(str, paths), "--rounds", "1", "--seed", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    board = {r["model"]: r for r in json.loads(result.stdout)}
    values = scores["score"].to_numpy()
    redrawn = values[np.random.RandomState(3).choice(6, size=6, replace=True)].mean()
    assert board["m"]["score"] == pytest.approx(100 * redrawn)
    assert board["m"]["lower"] == pytest.approx(100 * redrawn) == board["m"]["upper"]
    assert board["o3-mini"]["score"] == 50.0


def test_v2_style_fit_solves_its_score_equations(tmp_path: Path) -> None:
    from judgekit.rank.peers import arena_hard_v2 as v2

    rng = np.random.default_rng(4)
    x = np.column_stack([np.ones(200), rng.normal(size=(200, 2))])
    y = rng.choice([0.0, 0.5, 1.0], size=200)
    w = v2._bt_fit(x, y)
    # The unpenalised fractional logistic optimum: Xᵀ(σ(Xw) − y) = 0.
    np.testing.assert_allclose(x.T @ (1 / (1 + np.exp(-x @ w)) - y), 0.0, atol=1e-6)


def test_score_help_lists_the_formats_and_examples() -> None:
    result = CliRunner().invoke(cli, ["score", "--help"])
    assert result.exit_code == 0
    for word in ("alpaca-eval", "arena-hard", "mtbench", "Examples:", "--style-control"):
        assert word in result.output
    both = CliRunner().invoke(cli, ["score", "mtbench"])
    assert both.exit_code == 2 and "--db" in both.output
