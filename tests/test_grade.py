"""Pointwise grading with scripted judges: expected scores, several criteria, failures as data."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from judgekit.commands.grade import grade as grade_command
from judgekit.errors import ConfigError, InputError
from judgekit.inputs.outputs import load_outputs
from judgekit.judges.fakes import ScriptedJudge
from judgekit.runs.grade import grade, load_scored_outputs, mean_leaderboard
from judgekit.store import rubric_queries
from judgekit.store.db import open_store
from judgekit.types import JudgeRequest, JudgeResponse
from tests.conftest import write_jsonl

DATA = Path(__file__).parent / "data" / "rubrics"

ANSWERS = {
    "good": {"p1": "Paris is the capital of France.", "p2": "13 is prime.", "p3": "Sleep 8h."},
    "bad": {"p1": "I don't know.", "p2": "Maybe 12.", "p3": "No idea."},
}
PROMPTS = {"p1": "Capital of France?", "p2": "A prime above 10?", "p3": "A sleep tip?"}
# The score distribution the scripted judge gives each model's answers.
PROBS = {
    "good": {"1": 0.05, "2": 0.05, "3": 0.1, "4": 0.3, "5": 0.5},
    "bad": {"1": 0.4, "2": 0.3, "3": 0.2, "4": 0.1, "5": 0.0},
}


def _frame(answers: dict[str, dict[str, str]] = ANSWERS) -> pd.DataFrame:
    rows = [
        {"prompt_id": pid, "prompt": PROMPTS[pid], "model": model, "output": text}
        for model, outs in answers.items()
        for pid, text in outs.items()
    ]
    return pd.DataFrame(rows)


def _model_of(request: JudgeRequest) -> str:
    text = request.messages[0].content
    return "good" if any(a in text for a in ANSWERS["good"].values()) else "bad"


def _logprob_judge() -> ScriptedJudge:
    def reply(request: JudgeRequest) -> JudgeResponse:
        probs = PROBS[_model_of(request)]
        return JudgeResponse(text=max(probs, key=probs.__getitem__), choice_probs=dict(probs))

    return ScriptedJudge(reply, supports_logprobs=True)


def _count(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def test_logprob_score_is_the_expectation_and_is_stored_with_its_distribution(
    tmp_path: Path,
) -> None:
    db = tmp_path / "g.duckdb"
    judge = _logprob_judge()
    result = grade(_frame(), rubric="helpfulness", judge=judge, db=db, bootstrap=50)
    # Hand-computed: good = .05 + .1 + .3 + 1.2 + 2.5 = 4.15; bad = .4 + .6 + .6 + .4 = 2.0.
    board = result.leaderboard.set_index("model")
    assert board.loc["good", "score"] == pytest.approx(4.15)
    assert board.loc["bad", "score"] == pytest.approx(2.0)
    assert list(result.leaderboard["model"]) == ["good", "bad"]
    assert list(result.leaderboard["rank"]) == [1, 2]
    assert len(judge.calls) == 6
    request = judge.calls[0]
    assert request.choices == ("1", "2", "3", "4", "5") and request.max_tokens == 1
    assert request.assistant_prefix.startswith("Score:")
    assert result.stats["mode"] == "logprobs" and result.stats["parse_failures"] == 0

    with open_store(db, read_only=True) as store:
        stored = rubric_queries.scores(store, run_id=result.run_id)
        means = rubric_queries.score_leaderboard(store, run_id=result.run_id)
    assert len(stored) == 6 and set(stored["status"]) == {"ok"}
    good = stored[stored["model"] == "good"].iloc[0]
    assert good["distribution"] == pytest.approx(PROBS["good"])
    assert good["score"] == pytest.approx(4.15)
    assert set(means["criterion"]) == {"helpfulness", "overall"}
    top = means[(means["criterion"] == "overall") & (means["rank"] == 1)].iloc[0]
    assert top["model"] == "good" and top["score"] == pytest.approx(4.15)


def test_second_identical_run_makes_no_judge_calls(tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"
    first = grade(_frame(), rubric="helpfulness", judge=_logprob_judge(), db=db, bootstrap=20)
    judge = _logprob_judge()
    second = grade(_frame(), rubric="helpfulness", judge=judge, db=db, bootstrap=20)
    assert judge.calls == [] and second.stats["judge_calls_cached"] == 6
    assert second.run_id == first.run_id
    assert second.leaderboard.equals(first.leaderboard)
    assert _count(db, "SELECT count(*) FROM scores") == 6


def test_several_criteria_are_judged_in_one_generated_call(tmp_path: Path) -> None:
    replies = {
        "good": "Feedback: accurate.\n[RESULT] helpful: 5\n[RESULT] honest: 4\n"
        "[RESULT] harmless: 5",
        "bad": "Feedback: unhelpful.\n[RESULT] helpful: 1\n[RESULT] honest: 3\n"
        "[RESULT] harmless: 5",
    }
    judge = ScriptedJudge(lambda r: replies[_model_of(r)], supports_logprobs=False)
    result = grade(_frame(), rubric="hhh", judge=judge, db=tmp_path / "g.duckdb", bootstrap=20)
    assert len(judge.calls) == 6  # one call per response for all three criteria
    prompt = judge.calls[0].messages[0].content
    assert "[RESULT] helpful:" in prompt and "[RESULT] harmless:" in prompt
    assert len(result.scores) == 18 and result.stats["mode"] == "generate"
    board = result.leaderboard.set_index("model")
    assert board.loc["good", "score"] == pytest.approx(14 / 3)
    assert board.loc["bad", "score"] == pytest.approx(3.0)
    assert board.loc["good", "honest"] == 4.0 and board.loc["bad", "helpful"] == 1.0
    assert set(result.scores["feedback"]) == {"accurate.", "unhelpful."}


def test_unparseable_replies_are_stored_as_failures_and_never_resampled(tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"

    def reply(request: JudgeRequest) -> str:
        if "I don't know." in request.messages[0].content:
            return "This response is difficult to assess."
        return "Feedback: ok [RESULT] 4" if _model_of(request) == "good" else "[RESULT] 2"

    judge = ScriptedJudge(reply, supports_logprobs=False)
    result = grade(_frame(), rubric="honesty", judge=judge, db=db, bootstrap=20)
    failed = result.scores[result.scores["status"] == "parse_error"]
    assert len(failed) == 1
    assert failed.iloc[0]["raw"] == "This response is difficult to assess."
    assert failed.iloc[0]["error"] == "no score found" and np.isnan(failed.iloc[0]["score"])
    board = result.leaderboard.set_index("model")
    assert board.loc["bad", "score"] == 2.0 and board.loc["bad", "n"] == 2
    assert board.loc["bad", "failures"] == 1 and result.stats["parse_failures"] == 1
    stored = _count(db, "SELECT count(*) FROM scores WHERE status = 'parse_error' AND raw <> ''")
    assert stored == 1

    again = ScriptedJudge(reply, supports_logprobs=False)
    grade(_frame(), rubric="honesty", judge=again, db=db, bootstrap=20)
    assert again.calls == []  # a parse failure is a stored answer, not a reason to resample


def test_judge_errors_are_data_and_retried_on_the_next_run(tmp_path: Path) -> None:
    db = tmp_path / "g.duckdb"

    def flaky(request: JudgeRequest) -> JudgeResponse:
        if _model_of(request) == "bad":
            return JudgeResponse(status="error", error="server busy")
        return JudgeResponse(text="[RESULT] 5")

    result = grade(_frame(), rubric="helpfulness", judge=ScriptedJudge(flaky), db=db, bootstrap=0)
    assert result.stats["judge_errors"] == 3 and result.stats["judge_calls_failed"] == 3
    bad = result.leaderboard.set_index("model").loc["bad"]
    assert np.isnan(bad["score"]) and bad["failures"] == 3
    retry = ScriptedJudge(lambda r: "[RESULT] 2")
    second = grade(_frame(), rubric="helpfulness", judge=retry, db=db, bootstrap=0)
    assert len(retry.calls) == 3 and second.stats["judge_errors"] == 0


def test_feedback_then_logprob_score(tmp_path: Path) -> None:
    def reply(request: JudgeRequest) -> JudgeResponse:
        model = _model_of(request)
        if request.choices:
            probs = PROBS[model]
            return JudgeResponse(text="5", choice_probs=dict(probs))
        return JudgeResponse(text=f"Feedback: the {model} one. [RESULT] 3")

    judge = ScriptedJudge(reply, supports_logprobs=True)
    db = tmp_path / "g.duckdb"
    result = grade(_frame(), rubric="helpfulness", judge=judge, db=db, feedback=True, bootstrap=0)
    generated = [r for r in judge.calls if not r.choices]
    scored = [r for r in judge.calls if r.choices]
    assert len(generated) == 6 and len(scored) == 6
    assert all(r.assistant_prefix.endswith("[RESULT] ") for r in scored)
    assert scored[0].assistant_prefix.startswith("Feedback: the ")
    assert result.stats["mode"] == "feedback" and result.stats["judge_calls_made"] == 12
    board = result.leaderboard.set_index("model")
    assert board.loc["good", "score"] == pytest.approx(4.15)
    good = result.scores[result.scores["model"] == "good"].iloc[0]
    assert good["feedback"] == "the good one." and good["raw"].startswith("Feedback:")
    again = ScriptedJudge(reply, supports_logprobs=True)
    grade(_frame(), rubric="helpfulness", judge=again, db=db, feedback=True, bootstrap=0)
    assert again.calls == []


def test_multi_token_scales_are_graded_by_generation(tmp_path: Path) -> None:
    judge = ScriptedJudge(lambda r: "Feedback: fine. [RESULT] 10", supports_logprobs=True)
    result = grade(
        _frame(), rubric=DATA / "ten_point", judge=judge, db=tmp_path / "g.duckdb", bootstrap=0
    )
    assert result.stats["mode"] == "generate" and not judge.calls[0].choices
    assert set(result.scores["score"]) == {10.0}
    with pytest.raises(ConfigError, match="share a first token"):
        grade(_frame(), rubric=DATA / "ten_point", judge=judge, db=":memory:", verdict="logprobs")


def test_references_are_fenced_into_the_prompt(tmp_path: Path) -> None:
    frame = _frame()
    frame["reference"] = frame["prompt_id"].map({"p1": "Paris", "p2": None, "p3": None})
    judge = ScriptedJudge(lambda r: "[RESULT] 7", supports_logprobs=False)
    grade(frame, rubric=DATA / "ten_point", judge=judge, db=tmp_path / "g.duckdb", bootstrap=0)
    by_prompt = {
        pid: next(
            r.messages[0].content for r in judge.calls if PROMPTS[pid] in r.messages[0].content
        )
        for pid in PROMPTS
    }
    assert "<<<BEGIN REFERENCE" in by_prompt["p1"] and "\nParis\n" in by_prompt["p1"]
    assert "The per-item reference for p2." in by_prompt["p2"]
    assert "The global reference answer." in by_prompt["p3"]
    assert "<<<BEGIN RESPONSE" in by_prompt["p1"] and "<<<BEGIN INSTRUCTION" in by_prompt["p1"]


def test_one_model_is_enough_and_bad_inputs_name_file_and_line(tmp_path: Path) -> None:
    only = _frame({"good": ANSWERS["good"]})
    result = grade(only, rubric="conciseness", judge=_logprob_judge(), db=":memory:", bootstrap=0)
    assert list(result.leaderboard["model"]) == ["good"]

    rows = [{"prompt_id": "p1", "prompt": "Q", "model": "m", "output": "A"}] * 2
    path = write_jsonl(tmp_path / "dup.jsonl", rows)
    with pytest.raises(InputError, match=r"dup\.jsonl:2: duplicate"):
        load_scored_outputs([path])
    mismatch = write_jsonl(
        tmp_path / "mm.jsonl",
        [
            {"prompt_id": "p1", "prompt": "Q", "model": "a", "output": "A"},
            {"prompt_id": "p1", "prompt": "Other", "model": "b", "output": "B"},
        ],
    )
    with pytest.raises(InputError, match=r"mm\.jsonl:2: prompt_id 'p1' has a different prompt"):
        load_scored_outputs([mismatch])


def test_scored_outputs_keep_prompts_with_one_answer_that_comparisons_skip(
    tmp_path: Path,
) -> None:
    rows = [
        {"prompt_id": "p1", "prompt": "Q1", "model": "a", "output": "A1"},
        {"prompt_id": "p1", "prompt": "Q1", "model": "b", "output": "B1"},
        {"prompt_id": "p2", "prompt": "Q2", "model": "a", "output": "A2"},
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", rows)
    scored = load_scored_outputs(path)
    assert sorted(scored.items) == ["p1", "p2"]
    assert len(scored.candidates) == 3 and scored.skipped_prompts == []
    compared = load_outputs([path])
    assert sorted(compared.items) == ["p1"]
    assert len(compared.candidates) == 2 and compared.skipped_prompts == ["p2"]


def _naive_bootstrap(values: np.ndarray, b: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-resample loop over prompts: the reference the vectorised version must match."""
    n_prompts = values.shape[0]
    counts = np.random.default_rng(seed).multinomial(
        n_prompts, np.full(n_prompts, 1 / n_prompts), size=b
    )
    draws = []
    for row in counts:
        idx = np.repeat(np.arange(n_prompts), row)
        draws.append(np.nanmean(values[idx], axis=0))
    low, high = np.nanpercentile(np.array(draws), [2.5, 97.5], axis=0)
    return low, high


def test_bootstrap_cis_match_a_naive_resampling_loop() -> None:
    rng = np.random.default_rng(3)
    n_prompts, models = 40, ["a", "b", "c"]
    values = rng.normal([3.0, 3.5, 2.0], 0.8, size=(n_prompts, 3))
    values[rng.random(values.shape) < 0.1] = np.nan  # some parse failures
    rows = [
        {
            "prompt_id": f"p{p:02d}",
            "model": m,
            "criterion": "quality",
            "score": values[p, j],
            "status": "parse_error" if np.isnan(values[p, j]) else "ok",
        }
        for p in range(n_prompts)
        for j, m in enumerate(models)
    ]
    long = mean_leaderboard(
        pd.DataFrame(rows), models=models, weights={"quality": 1.0}, bootstrap=150, seed=7
    )
    quality = long[long["criterion"] == "quality"].set_index("model").loc[models]
    assert quality["score"].to_numpy() == pytest.approx(np.nanmean(values, axis=0))
    low, high = _naive_bootstrap(values, 150, 7)
    assert quality["ci_low"].to_numpy() == pytest.approx(low)
    assert quality["ci_high"].to_numpy() == pytest.approx(high)
    assert list(quality["n"]) == list(np.isfinite(values).sum(axis=0))
    assert list(quality["failures"]) == list(np.isnan(values).sum(axis=0))
    overall = long[long["criterion"] == "overall"].set_index("model").loc[models]
    assert overall["score"].to_numpy() == pytest.approx(quality["score"].to_numpy())
    assert list(long[long["criterion"] == "overall"]["model"]) == ["b", "a", "c"]


def test_overall_is_the_weighted_mean_of_criterion_means() -> None:
    rows = []
    for p, (x, y) in enumerate([(1.0, 5.0), (3.0, 5.0), (2.0, None)]):
        rows.append({"prompt_id": f"p{p}", "model": "m", "criterion": "x", "score": x})
        rows.append({"prompt_id": f"p{p}", "model": "m", "criterion": "y", "score": y})
    frame = pd.DataFrame(rows)
    frame["status"] = np.where(frame["score"].isna(), "parse_error", "ok")
    long = mean_leaderboard(frame, models=["m"], weights={"x": 1.0, "y": 3.0}, bootstrap=0)
    got = long.set_index("criterion")["score"]
    assert got["x"] == pytest.approx(2.0) and got["y"] == pytest.approx(5.0)
    assert got["overall"] == pytest.approx((2.0 + 3 * 5.0) / 4)


def test_relative_grading_puts_the_rubric_criteria_in_the_pairwise_prompt(tmp_path: Path) -> None:
    import judgekit
    from judgekit.judges.fakes import HashJudge
    from judgekit.protocols.pointwise import criteria_text
    from judgekit.rubrics import load_rubric

    judge = HashJudge()
    criteria = criteria_text(load_rubric("hhh"))
    result = judgekit.compare(
        _frame(), judge=judge, db=tmp_path / "p.duckdb", criteria=criteria, bootstrap=0
    )
    assert len(judge.calls) == 6  # 3 prompts x 1 pair x 2 orders
    assert all(criteria in r.messages[0].content for r in judge.calls)
    assert set(result.leaderboard["model"]) == {"good", "bad"}


def test_grade_command_prints_a_table_and_json(tmp_path: Path) -> None:
    files = []
    for model, outs in ANSWERS.items():
        rows = [
            {"prompt_id": p, "prompt": PROMPTS[p], "model": model, "output": o}
            for p, o in outs.items()
        ]
        files.append(str(write_jsonl(tmp_path / f"{model}.jsonl", rows)))
    db = str(tmp_path / "g.duckdb")
    args = [*files, "--rubric", "hhh", "--judge", "fake/hash", "--db", db, "--bootstrap", "50"]
    result = CliRunner().invoke(grade_command, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    for text in ("Rank", "Model", "Score", "95% CI", "Helpful", "Honest", "Harmless", "good"):
        assert text in result.stdout
    again = CliRunner().invoke(grade_command, [*args, "--json"])
    payload = json.loads(again.stdout)
    assert (
        payload["stats"]["judge_calls_made"] == 0 and payload["stats"]["judge_calls_cached"] == 18
    )
    assert {row["model"] for row in payload["leaderboard"]} == {"good", "bad"}
    assert {row["criterion"] for row in payload["criteria"]} == {
        "helpful",
        "honest",
        "harmless",
        "overall",
    }
    bad = CliRunner().invoke(grade_command, [*files, "--rubric", "nope", "--db", db])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
