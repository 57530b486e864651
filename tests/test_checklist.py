"""TICK checklists with scripted judges: generation, answers, pass rates, store round trips,
pairwise outcomes for Bradley-Terry, and the STICK helpers."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from judgekit.commands.checklist import checklist as checklist_command
from judgekit.errors import InputError, ParseError
from judgekit.judges.fakes import ScriptedJudge
from judgekit.protocols.checklist import YES_NO_CHOICES
from judgekit.rubrics import Checklist, dump_checklists, load_checklists
from judgekit.runs.checklist import checklist, checklists_from_frame, pass_rate_outcomes
from judgekit.runs.stick import refinement_feedback, select_best
from judgekit.store import rubric_queries
from judgekit.store.db import open_store
from judgekit.types import JudgeRequest, JudgeResponse
from tests.conftest import write_jsonl

PROMPTS = {"p1": "Write a haiku about rain.", "p2": "Name two primes, comma-separated."}
ANSWERS = {
    "best": {"p1": "Soft rain on tin roofs / ...", "p2": "2, 3"},
    "mid": {"p1": "Rain falls.", "p2": "2 and 3"},
    "worst": {"p1": "I like sunshine.", "p2": "four"},
}
CHECKLISTS = {
    "p1": "1. Does the response form a haiku?\n2. Is the response about rain?",
    "p2": "Checklist:\n- Does the response name two primes?\n- Is it comma-separated?\n"
    "- Does it name exactly two numbers?",
}
# P(YES) per (model, prompt): one value per question, in checklist order.
P_YES = {
    ("best", "p1"): [0.9, 0.8],
    ("mid", "p1"): [0.2, 0.9],
    ("worst", "p1"): [0.1, 0.1],
    ("best", "p2"): [1.0, 0.9, 0.8],
    ("mid", "p2"): [0.9, 0.1, 0.8],
    ("worst", "p2"): [0.0, 0.1, 0.2],
}


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"prompt_id": pid, "prompt": PROMPTS[pid], "model": model, "output": text}
            for model, outs in ANSWERS.items()
            for pid, text in outs.items()
        ]
    )


def _who(request: JudgeRequest) -> tuple[str, str, int]:
    """(model, prompt_id, question index) of an answering request."""
    text = request.messages[0].content
    pid = next(p for p, q in PROMPTS.items() if q in text)
    model = next(m for m, outs in ANSWERS.items() if f"\n{outs[pid]}\n" in text)
    question = text.split("[Question]\n", 1)[1].split("\n", 1)[0]
    questions = [
        line.split(" ", 1)[1] for line in CHECKLISTS[pid].splitlines() if line.endswith("?")
    ]
    return model, pid, questions.index(question)


def _judge(*, logprobs: bool = True) -> ScriptedJudge:
    def reply(request: JudgeRequest) -> JudgeResponse:
        text = request.messages[0].content
        if "[Question]" not in text:
            pid = next(p for p, q in PROMPTS.items() if q in text)
            return JudgeResponse(text=CHECKLISTS[pid])
        model, pid, index = _who(request)
        p_yes = P_YES[(model, pid)][index]
        if request.choices:
            # Spread the mass over spellings, as a real tokenizer would.
            probs = {"YES": p_yes / 2, "Yes": p_yes / 2, "No": 1 - p_yes}
            return JudgeResponse(text="Yes", choice_probs=probs)
        return JudgeResponse(text="YES" if p_yes >= 0.5 else "NO, it does not.")

    return ScriptedJudge(reply, supports_logprobs=logprobs)


def _rates(model: str, pid: str) -> tuple[float, float]:
    values = P_YES[(model, pid)]
    return sum(values) / len(values), sum(v >= 0.5 for v in values) / len(values)


def test_checklist_generates_answers_and_scores(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    judge = _judge()
    result = checklist(_frame(), judge=judge, db=db, bootstrap=50)
    generation = [r for r in judge.calls if not r.choices]
    answers = [r for r in judge.calls if r.choices]
    assert len(generation) == 2 and len(answers) == 3 * (2 + 3)
    assert answers[0].choices == YES_NO_CHOICES and answers[0].max_tokens == 1
    assert result.stats["checklists_generated"] == 2 and result.stats["questions"] == 5
    assert result.stats["mode"] == "logprobs"

    scores = result.scores.set_index(["model", "prompt_id"])
    for (model, pid), _ in P_YES.items():
        soft, hard = _rates(model, pid)
        assert scores.loc[(model, pid), "pass_rate"] == pytest.approx(soft)
        assert scores.loc[(model, pid), "weighted_pass_rate"] == pytest.approx(soft)
        assert scores.loc[(model, pid), "hard_pass_rate"] == pytest.approx(hard)
    board = result.leaderboard.set_index("model")
    mid = (_rates("mid", "p1")[0] + _rates("mid", "p2")[0]) / 2
    assert board.loc["mid", "score"] == pytest.approx(mid)
    assert list(result.leaderboard["model"]) == ["best", "mid", "worst"]

    # Pairwise outcomes from the pass rates drive Bradley-Terry.
    assert len(result.outcomes) == 2 * 3
    assert result.bt_leaderboard is not None
    assert list(result.bt_leaderboard["model"]) == ["best", "mid", "worst"]


def test_checklists_round_trip_through_the_store(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    result = checklist(_frame(), judge=_judge(), db=db, bootstrap=0)
    with open_store(db, read_only=True) as store:
        stored = rubric_queries.checklists(store, run_id=result.run_id)
        answers = rubric_queries.checklist_answers(store, run_id=result.run_id)
        scores = rubric_queries.scores(store, run_id=result.run_id, criterion="pass_rate")
        means = rubric_queries.score_leaderboard(store, run_id=result.run_id, prefix="checklist")
    rebuilt = {c.prompt_id: c for c in checklists_from_frame(stored)}
    assert rebuilt == {c.prompt_id: c for c in result.checklist_objects()}
    assert rebuilt["p2"].texts() == [
        "Does the response name two primes?",
        "Is it comma-separated?",
        "Does it name exactly two numbers?",
    ]
    assert rebuilt["p1"].source == "generated" and rebuilt["p1"].generator == "fake/scripted"
    assert rebuilt["p1"].request_hash and rebuilt["p1"].request_hash.startswith("v1:")
    assert len(answers) == 15 and answers["question"].notna().all()
    keys = ["prompt_id", "model", "question_index"]
    merged = answers.merge(result.answers, on=keys, suffixes=("_stored", ""))
    assert len(merged) == 15
    assert merged["p_yes_stored"].tolist() == pytest.approx(merged["p_yes"].tolist())
    assert len(scores) == 6 and set(scores["status"]) == {"ok"}
    assert set(means["criterion"]) == {"pass_rate", "weighted_pass_rate"}

    con = duckdb.connect(str(db), read_only=True)
    methods = {r[0] for r in con.execute("SELECT DISTINCT method FROM ratings").fetchall()}
    n_outcomes = con.execute("SELECT count(*) FROM outcomes").fetchone()[0]
    con.close()
    assert methods == {"bt", "checklist:pass_rate", "checklist:weighted_pass_rate"}
    assert n_outcomes == 6


def test_export_then_reuse_makes_no_generation_calls(tmp_path: Path) -> None:
    first = checklist(_frame(), judge=_judge(), db=tmp_path / "a.duckdb", bootstrap=0)
    path = dump_checklists(first.checklist_objects(), tmp_path / "cl.jsonl")
    loaded = load_checklists(path)
    assert {pid: c.questions for pid, c in loaded.items()} == {
        c.prompt_id: c.questions for c in first.checklist_objects()
    }
    judge = _judge()
    second = checklist(_frame(), judge=judge, db=tmp_path / "b.duckdb", checklists=path)
    assert all(r.choices for r in judge.calls) and len(judge.calls) == 15
    assert second.stats["checklists_user"] == 2 and second.stats["checklists_generated"] == 0
    assert second.scores["pass_rate"].tolist() == pytest.approx(first.scores["pass_rate"].tolist())


def test_user_checklists_by_text_with_weights(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"prompt": PROMPTS["p1"], "question": "Does the response form a haiku?", "weight": 3},
            {"prompt_id": "p1", "question": "Is the response about rain?"},
            {
                "prompt_id": "p2",
                "questions": [
                    "Does the response name two primes?",
                    {"question": "Is it comma-separated?", "weight": 0.5},
                    "Does it name exactly two numbers?",
                ],
            },
        ],
    )
    result = checklist(_frame(), judge=_judge(), db=":memory:", checklists=path, bootstrap=0)
    scores = result.scores.set_index(["model", "prompt_id"])
    # mid on p1: (3 * .2 + 1 * .9) / 4; on p2: (.9 + .5 * .1 + .8) / 2.5
    assert scores.loc[("mid", "p1"), "weighted_pass_rate"] == pytest.approx(1.5 / 4)
    assert scores.loc[("mid", "p2"), "weighted_pass_rate"] == pytest.approx(1.75 / 2.5)
    assert scores.loc[("mid", "p1"), "pass_rate"] == pytest.approx(0.55)
    stored = result.checklists
    assert set(stored["source"]) == {"user"} and set(stored["generator"]) == {str(path)}


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ([{"prompt_id": "p1"}], 1, "needs questions"),
        ([{"prompt_id": "p1", "questions": []}], 1, "non-empty list"),
        ([{"prompt_id": "p1", "questions": ["ok?"], "question": "x?"}], 1, "not both"),
        ([{"question": "Orphan?"}], 1, "prompt_id or the prompt text"),
        ([{"prompt_id": "p1", "question": "Q?"}, {"prompt_id": "p1", "q": "x"}], 2, "unknown"),
        ([{"prompt_id": "p1", "question": "  "}], 1, "question"),
        ([{"prompt_id": "p1", "question": "Q?", "weight": 0}], 1, "weight"),
        ([{"prompt_id": "p1", "questions": [3]}], 1, "string or"),
    ],
)
def test_bad_checklist_rows_name_file_and_line(
    tmp_path: Path, rows: list[dict[str, object]], line: int, message: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError, match=message) as info:
        load_checklists(path)
    assert info.value.path == str(path) and info.value.line == line


def test_malformed_json_and_missing_prompts_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt_id": "p1", "question": "Q?"}\n{"prompt_id": \n')
    with pytest.raises(InputError, match=r"broken\.jsonl:2: malformed JSON"):
        load_checklists(broken)
    partial = write_jsonl(tmp_path / "partial.jsonl", [{"prompt_id": "p1", "question": "Q?"}])
    with pytest.raises(InputError, match=r"partial\.jsonl: no checklist for 1 prompt\(s\): p2"):
        checklist(_frame(), judge=_judge(), db=":memory:", checklists=partial)


def test_generated_text_answers_and_failures_are_data(tmp_path: Path) -> None:
    def reply(request: JudgeRequest) -> JudgeResponse:
        text = request.messages[0].content
        if "[Question]" not in text:
            if PROMPTS["p2"] in text:
                return JudgeResponse(text="A good answer names primes.")  # no question
            return JudgeResponse(text=CHECKLISTS["p1"])
        model, _, index = _who(request)
        if model == "mid" and index == 1:
            return JudgeResponse(text="Hard to say.")
        return JudgeResponse(text="YES" if model == "best" else "No.")

    judge = ScriptedJudge(reply, supports_logprobs=False)
    result = checklist(_frame(), judge=judge, db=tmp_path / "c.duckdb", bootstrap=0)
    assert result.stats["mode"] == "generate" and result.stats["checklist_failures"] == 1
    assert result.stats["answer_parse_failures"] == 1 and result.stats["unscored_responses"] == 3
    scores = result.scores.set_index(["model", "prompt_id"])
    assert scores.loc[("best", "p1"), "pass_rate"] == 1.0
    assert scores.loc[("mid", "p1"), "pass_rate"] == 0.0
    assert scores.loc[("mid", "p1"), "n_answered"] == 1
    assert scores.loc[("mid", "p1"), "n_questions"] == 2
    failed = scores.loc[("best", "p2")]
    assert failed["status"] == "parse_error" and "checklist:" in failed["error"]
    board = result.leaderboard.set_index("model")
    assert board.loc["best", "n"] == 1 and board.loc["best", "failures"] == 1
    con = duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True)
    raw = con.execute(
        "SELECT raw FROM scores WHERE prompt_id = 'p2' AND status = 'parse_error' LIMIT 1"
    ).fetchone()[0]
    con.close()
    assert raw == "1. Does the responseA good answer names primes."  # prefix, then the reply

    again = ScriptedJudge(reply, supports_logprobs=False)
    checklist(_frame(), judge=again, db=tmp_path / "c.duckdb", bootstrap=0)
    assert again.calls == []  # failed parses are stored, not resampled


def test_pass_rate_outcomes_win_lose_and_tie() -> None:
    scores = pd.DataFrame(
        {
            "prompt_id": ["p1", "p1", "p1", "p2", "p2"],
            "model": ["a", "b", "c", "a", "b"],
            "pass_rate": [0.8, 0.5, 0.8, 0.3, 0.35],
            "status": ["ok", "ok", "ok", "ok", "ok"],
        }
    )
    outcomes = {(o.prompt_id, o.model_a, o.model_b): o for o in pass_rate_outcomes(scores)}
    assert len(outcomes) == 4
    assert (outcomes[("p1", "a", "b")].win_a, outcomes[("p1", "a", "b")].tie) == (1.0, 0.0)
    assert outcomes[("p1", "a", "c")].tie == 1.0  # equal pass rates tie
    assert outcomes[("p1", "b", "c")].win_b == 1.0
    assert outcomes[("p2", "a", "b")].win_b == 1.0
    margin = {
        (o.prompt_id, o.model_a, o.model_b): o for o in pass_rate_outcomes(scores, tie_margin=0.1)
    }
    assert margin[("p2", "a", "b")].tie == 1.0 and margin[("p1", "a", "b")].win_a == 1.0
    failed = scores.assign(status=["ok", "parse_error", "ok", "ok", "ok"])
    assert len(pass_rate_outcomes(failed)) == 2  # b on p1 has no usable score


def test_select_best_picks_the_highest_pass_rate() -> None:
    instruction = PROMPTS["p2"]
    candidates = [ANSWERS["worst"]["p2"], ANSWERS["best"]["p2"], ANSWERS["mid"]["p2"]]

    def reply(request: JudgeRequest) -> JudgeResponse:
        text = request.messages[0].content
        if "[Question]" not in text:
            return JudgeResponse(text=CHECKLISTS["p2"])
        model, pid, index = _who(request)
        p_yes = P_YES[(model, pid)][index]
        return JudgeResponse(text="Yes", choice_probs={"Yes": p_yes, "No": 1 - p_yes})

    best = select_best(instruction, candidates, ScriptedJudge(reply, supports_logprobs=True))
    assert best.index == 1 and best.response == ANSWERS["best"]["p2"]
    assert best.scores == pytest.approx((0.1, 0.9, 0.6))
    assert len(best.checklist.questions) == 3

    # A given checklist is used as is; equal scores go to the earliest candidate.
    judge = ScriptedJudge(lambda r: JudgeResponse(text="YES"), supports_logprobs=False)
    tie = select_best("Say hi.", ["hi", "hello"], judge, checklist=["Does it greet?"])
    assert tie.index == 0 and tie.scores == (1.0, 1.0) and len(judge.calls) == 2


def test_refinement_feedback_lists_failed_questions() -> None:
    def reply(request: JudgeRequest) -> JudgeResponse:
        text = request.messages[0].content
        if "[Question]" not in text:
            return JudgeResponse(text=CHECKLISTS["p2"])
        model, pid, index = _who(request)
        return JudgeResponse(text="YES" if P_YES[(model, pid)][index] >= 0.5 else "NO")

    judge = ScriptedJudge(reply)
    refinement = refinement_feedback(PROMPTS["p2"], ANSWERS["mid"]["p2"], judge)
    assert not refinement.passed
    assert refinement.failed == ("Is it comma-separated?",)
    assert "Is it comma-separated?" in refinement.feedback
    assert refinement.pass_rate == pytest.approx(2 / 3)
    done = refinement_feedback(PROMPTS["p2"], ANSWERS["best"]["p2"], judge)
    assert done.passed and done.failed == () and done.feedback == ""


def test_select_best_without_a_usable_checklist_raises() -> None:
    judge = ScriptedJudge(lambda r: "I cannot write questions.")
    with pytest.raises(ParseError, match="no usable checklist"):
        select_best("Do X.", ["a", "b"], judge)


def test_checklist_command_exports_and_reuses(tmp_path: Path) -> None:
    files = []
    for model, outs in ANSWERS.items():
        rows = [
            {"prompt_id": p, "prompt": PROMPTS[p], "model": model, "output": o}
            for p, o in outs.items()
        ]
        files.append(str(write_jsonl(tmp_path / f"{model}.jsonl", rows)))
    user = write_jsonl(
        tmp_path / "user.jsonl",
        [{"prompt_id": p, "questions": ["Is it correct?", "Is it short?"]} for p in PROMPTS],
    )
    db = str(tmp_path / "c.duckdb")
    export = tmp_path / "out.jsonl"
    args = [*files, "--judge", "fake/hash", "--db", db, "--bootstrap", "30"]
    args += ["--checklists", str(user), "--export-checklists", str(export)]
    result = CliRunner().invoke(checklist_command, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    for text in ("Pass rate", "95% CI", "Weighted pass rate", "Bradley-Terry", "best"):
        assert text in result.stdout
    exported = [json.loads(line) for line in export.read_text().splitlines()]
    assert [row["prompt_id"] for row in exported] == ["p1", "p2"]
    assert exported[0]["questions"][1] == {"question": "Is it short?", "weight": 1.0}
    assert load_checklists(export)["p1"].texts() == ["Is it correct?", "Is it short?"]

    again = CliRunner().invoke(checklist_command, [*args, "--json"])
    payload = json.loads(again.stdout)
    assert payload["stats"]["judge_calls_made"] == 0
    assert payload["stats"]["judge_calls_cached"] == 12
    assert {row["model"] for row in payload["leaderboard"]} == set(ANSWERS)
    assert {row["model"] for row in payload["bt_leaderboard"]} == set(ANSWERS)


def test_checklist_objects_validate() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Checklist(prompt_id="p", questions=())
    made = Checklist.of("p", ["Is it short?"], source="generated", generator="x/y")
    assert made.questions[0].weight == 1.0 and made.source == "generated"
