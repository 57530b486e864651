"""CI-aware ranks in every table that ranks models: the one rank function, hand-computed
cases, and the grade and checklist boards (library DataFrames and CLI --json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.judges import registry
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.fakes import ScriptedJudge
from judgekit.rank import ci_aware_rank, ratings_frame
from judgekit.runs.checklist import checklist
from judgekit.runs.grade import grade, mean_leaderboard
from judgekit.types import JudgeRequest, JudgeResponse, Ratings
from tests.conftest import write_jsonl

PROMPTS = {f"p{i}": f"Question number {i}?" for i in range(1, 5)}
# Per model and prompt, the judge's verdict: high (score 5 / YES) or low (score 4 / NO).
# alpha is always high, beta always low, gamma high on p1 and p3 only.
HIGH = {
    "alpha": {"p1", "p2", "p3", "p4"},
    "beta": set(),
    "gamma": {"p1", "p3"},
}
# Hand-computed ranks. Resampling 4 prompts, gamma's mean is at its low end (all draws from
# p2/p4) with probability 1/16 and at its high end with 1/16, both above 2.5 %, so its 95 %
# interval is the whole range [low, high] and overlaps both alpha's and beta's, which never
# vary. alpha's lower bound equals gamma's upper bound: not strictly above, a shared rank 1.
# Only alpha lies above beta (gamma's lower bound equals beta's upper bound): beta is 2.
# Ranked by the means alone they would be 1, 2, 3.
EXPECTED_RANKS = {"alpha": 1, "gamma": 1, "beta": 2}


def _answer(model: str, pid: str) -> str:
    return f"{model} answers {pid}."


def _outputs(tmp_path: Path) -> list[Path]:
    return [
        write_jsonl(
            tmp_path / f"{model}.jsonl",
            [
                {"prompt_id": pid, "prompt": text, "model": model, "output": _answer(model, pid)}
                for pid, text in PROMPTS.items()
            ],
        )
        for model in HIGH
    ]


def _who(request: JudgeRequest) -> tuple[str, str]:
    text = request.messages[0].content
    return next((model, pid) for model in HIGH for pid in PROMPTS if _answer(model, pid) in text)


def _reply(request: JudgeRequest) -> JudgeResponse:
    model, pid = _who(request)
    high = pid in HIGH[model]
    if "5" in request.choices:  # a rubric score, 1-5
        label = "5" if high else "4"
        return JudgeResponse(
            text=label, choice_probs={c: float(c == label) for c in request.choices}
        )
    label = "YES" if high else "NO"  # a checklist question
    probs = {c: float(c.upper() == label) / 3 for c in request.choices}
    return JudgeResponse(text=label, choice_probs=probs)


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> str:
    """``scripted/ranks`` resolves, through the registry, to the scripted judge above."""

    def load(model: str, options: JudgeOptions) -> Judge:
        return ScriptedJudge(_reply, supports_logprobs=True, judge_id=f"scripted/{model}")

    monkeypatch.setitem(registry._PROVIDERS, "scripted", load)
    return "scripted/ranks"


def _checklists(tmp_path: Path) -> Path:
    rows = [{"prompt_id": pid, "questions": ["Is the answer right?"]} for pid in PROMPTS]
    return write_jsonl(tmp_path / "checklists.jsonl", rows)


def _ranks(board: pd.DataFrame) -> dict[str, int]:
    return {str(m): int(r) for m, r in zip(board["model"], board["rank"], strict=True)}


# -- the rank function -------------------------------------------------------------------


def test_overlapping_intervals_share_a_rank() -> None:
    # A above all; B, C overlap each other (shared 2); D overlaps C but lies below A and B.
    low = [10.0, 6.0, 4.0, 1.0]
    high = [12.0, 9.0, 7.0, 5.0]
    assert ci_aware_rank(low, high) == [1, 2, 2, 3]
    # Touching bounds are not "above": a lower bound must exceed the other's upper bound.
    assert ci_aware_rank([2.0, 1.0], [3.0, 2.0]) == [1, 1]


def test_without_intervals_the_rank_is_competition_ranking_by_rating() -> None:
    rating = [3.0, 5.0, 3.0, 1.0, 5.0]
    nan = [np.nan] * 5
    expected = pd.Series(rating).rank(method="min", ascending=False).astype(int).tolist()
    assert ci_aware_rank(nan, nan, rating=rating) == expected == [3, 1, 3, 5, 1]


def test_a_model_without_interval_is_a_point_and_one_without_score_ranks_last() -> None:
    low = [10.0, np.nan, 4.0, np.nan]
    high = [12.0, np.nan, 7.0, np.nan]
    # The second model has only its rating 8.0: below A's interval, above C's.
    assert ci_aware_rank(low, high, rating=[11.0, 8.0, 5.0, np.nan]) == [1, 2, 3, 4]
    # Without a rating argument, a missing interval ranks last.
    assert ci_aware_rank(low, high) == [1, 3, 2, 3]


def test_ratings_frame_ranks_through_the_same_function() -> None:
    ratings = Ratings(
        models=("x", "y", "z"),
        rating=(1100.0, 1050.0, 900.0),
        method="bt",
        ci_low=(1040.0, 1000.0, 850.0),
        ci_high=(1160.0, 1090.0, 950.0),
    )
    assert _ranks(ratings_frame(ratings)) == {"x": 1, "y": 1, "z": 3}
    plain = Ratings(models=("x", "y", "z"), rating=(1100.0, 1050.0, 1050.0), method="bt")
    assert _ranks(ratings_frame(plain)) == {"x": 1, "y": 2, "z": 2}


# -- mean-score tables -------------------------------------------------------------------


def _scores() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "prompt_id": pid,
                "model": model,
                "criterion": "quality",
                "score": 5.0 if pid in HIGH[model] else 4.0,
                "status": "ok",
            }
            for model in HIGH
            for pid in PROMPTS
        ]
    )


def test_mean_leaderboard_ranks_by_interval_and_best_first() -> None:
    long = mean_leaderboard(
        _scores(), models=list(HIGH), weights={"quality": 1.0}, bootstrap=1000, seed=0
    )
    overall = long[long["criterion"] == "overall"].set_index("model")
    assert overall.loc["gamma", ["ci_low", "ci_high"]].tolist() == [4.0, 5.0]
    assert overall.loc["alpha", ["ci_low", "ci_high"]].tolist() == [5.0, 5.0]
    assert overall.loc["beta", ["ci_low", "ci_high"]].tolist() == [4.0, 4.0]
    for criterion in ("quality", "overall"):
        board = long[long["criterion"] == criterion]
        assert _ranks(board) == EXPECTED_RANKS
        assert board["model"].tolist() == ["alpha", "gamma", "beta"]  # shared rank: by score
    # Without bootstrap there are no intervals: the means alone order the models.
    plain = mean_leaderboard(_scores(), models=list(HIGH), weights={"quality": 1.0}, bootstrap=0)
    assert _ranks(plain[plain["criterion"] == "overall"]) == {"alpha": 1, "gamma": 2, "beta": 3}


def test_a_model_without_usable_scores_ranks_last() -> None:
    scores = _scores()
    scores.loc[scores["model"] == "beta", "status"] = "parse_error"
    long = mean_leaderboard(scores, models=list(HIGH), weights={"quality": 1.0}, bootstrap=200)
    overall = long[long["criterion"] == "overall"]
    assert _ranks(overall) == {"alpha": 1, "gamma": 1, "beta": 3}
    assert overall["model"].iloc[-1] == "beta"


def test_grade_board_and_json_carry_ci_aware_ranks(scripted: str, tmp_path: Path) -> None:
    files = _outputs(tmp_path)
    db = tmp_path / "g.duckdb"
    result = grade(files, rubric="helpfulness", judge=scripted, db=db)
    assert _ranks(result.leaderboard) == EXPECTED_RANKS
    assert _ranks(result.criteria[result.criteria["criterion"] == "overall"]) == EXPECTED_RANKS

    args = ["grade", *map(str, files), "--rubric", "helpfulness", "--judge", scripted]
    out = CliRunner().invoke(cli, [*args, "--db", str(db), "--json", "--no-progress"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert {row["model"]: row["rank"] for row in payload["leaderboard"]} == EXPECTED_RANKS


def test_checklist_board_and_json_carry_ci_aware_ranks(scripted: str, tmp_path: Path) -> None:
    files = _outputs(tmp_path)
    given = _checklists(tmp_path)
    db = tmp_path / "c.duckdb"
    result = checklist(files, judge=scripted, db=db, checklists=given)
    board = result.leaderboard.set_index("model")
    assert board.loc["gamma", ["ci_low", "ci_high"]].tolist() == [0.0, 1.0]
    assert _ranks(result.leaderboard) == EXPECTED_RANKS

    args = ["checklist", *map(str, files), "--checklists", str(given), "--judge", scripted]
    out = CliRunner().invoke(cli, [*args, "--db", str(db), "--json", "--no-progress"])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert {row["model"]: row["rank"] for row in payload["leaderboard"]} == EXPECTED_RANKS
