"""Constitution extraction end to end with scripted judges: planted rules are recovered and
reconstruct the labels, both orders cancel position bias, failures are data, every stage is
stored and a re-run resumes, and the constitution judges as a rubric."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from judgekit.errors import ConfigError
from judgekit.judges.fakes import ScriptedJudge
from judgekit.protocols.pointwise import criteria_text
from judgekit.rubrics import load_rubric
from judgekit.runs.compare import compare
from judgekit.runs.icai import (
    ConstitutionOptions,
    constitution,
    literal_judge,
    synthetic_preferences,
)
from judgekit.runs.icai.synthetic import RULES, rule_of
from judgekit.store import icai_queries
from judgekit.store.db import open_store
from judgekit.types import JudgeRequest, JudgeResponse

FAST = {"embedder": "tfidf"}


def _rules(principles: Sequence[str]) -> set[str | None]:
    return {rule_of(p) for p in principles}


@pytest.fixture(scope="module")
def prefs() -> pd.DataFrame:
    return synthetic_preferences(200, noise=0.08, tie_rate=0.05, seed=7)


def test_recovers_the_planted_rules_and_beats_no_constitution(prefs: pd.DataFrame) -> None:
    result = constitution(
        prefs, judge=literal_judge(), db=":memory:", max_principles=4, coverage=True, **FAST
    )
    chosen = list(result.principles["principle"])
    assert _rules(chosen) == set(RULES)  # one principle per planted rule, no paraphrases
    report = result.report.set_index("condition")
    none, const = report.loc["none", "agreement"], report.loc["constitution", "agreement"]
    assert const >= none + 0.25 and const >= 0.85
    # Each principle alone decides only its own rule's pairs and ties the rest.
    alone = report.loc[[f"principle_{i:02d}" for i in range(1, 5)]]
    assert (alone["agreement"] < const).all() and (alone["ties"] > 0).all()
    assert list(result.principles["alone_agreement"]) == list(alone["agreement"])
    # The label noise shows up as votes against, never as errors.
    assert (result.principles["accuracy"] > 0.8).all() and (
        result.principles["n_errors"] == 0
    ).all()
    stats = result.stats
    assert stats["ties"] == (prefs["preferred"] == "tie").sum() and stats["test_pairs"] > 40
    assert stats["agreement_constitution"] == pytest.approx(const, abs=1e-4)


def test_top_k_by_net_votes_keeps_every_rule_and_drops_distractors(prefs: pd.DataFrame) -> None:
    result = constitution(prefs, judge=literal_judge(), db=":memory:", max_principles=10, **FAST)
    chosen = list(result.principles["principle"])
    assert _rules(chosen) == set(RULES)
    assert list(result.principles["net"]) == sorted(result.principles["net"], reverse=True)
    rejected = result.candidates[~result.candidates["selected"]]
    # Distractors never decide a pair; "longer" decides them against the labels.
    assert (
        rejected[rejected["principle"].str.contains("polite|confident|friendl")]["relevance"] == 0
    ).all()
    longer = result.candidates[result.candidates["principle"].str.contains("longer")]
    assert not longer.empty and (longer["net"] < 0).all() and not longer["selected"].any()


def test_text_verdicts_give_the_same_constitution() -> None:
    prefs = synthetic_preferences(100, noise=0.05, seed=11)
    by_logprobs = constitution(prefs, judge=literal_judge(), db=":memory:", **FAST)
    by_text = constitution(prefs, judge=literal_judge(logprobs=False), db=":memory:", **FAST)
    assert by_text.stats["verdict_mode"] == "generate"
    assert list(by_text.principles["principle"]) == list(by_logprobs.principles["principle"])
    assert list(by_text.report["agreement"]) == list(by_logprobs.report["agreement"])


def _position_biased() -> ScriptedJudge:
    """Proposes like the literal judge, but every vote and verdict says "A"."""
    literal = literal_judge()

    def reply(request: JudgeRequest) -> JudgeResponse:
        if "preferred Response" in request.messages[0].content:
            return literal.judge([request])[0]
        return JudgeResponse(text="A", choice_probs={"A": 1.0, "B": 0.0, "C": 0.0})

    return ScriptedJudge(reply, supports_logprobs=True, judge_id="fake/position")


def test_both_orders_turn_a_position_bias_into_abstentions(prefs: pd.DataFrame) -> None:
    result = constitution(prefs, judge=_position_biased(), db=":memory:", **FAST)
    candidates = result.candidates
    assert (candidates["n_for"] == 0).all() and (candidates["n_against"] == 0).all()
    assert (candidates["n_flipped"] == candidates["n_abstain"]).all()
    assert result.rubric is None and result.principles.empty
    (none,) = result.report.to_dict(orient="records")
    assert none["condition"] == "none" and none["agreement"] == 0.5 and none["flip_rate"] == 1.0
    with pytest.raises(ConfigError, match="no principle passed the filters"):
        result.write_rubric("x.yaml")


def _flaky() -> ScriptedJudge:
    """The literal judge, except for some proposals and votes it cannot be read from."""
    literal = literal_judge(logprobs=False)

    def reply(request: JudgeRequest) -> JudgeResponse:
        text = request.messages[0].content
        answer = literal.judge([request])[0]
        if "preferred Response" in text and "Brew it" in text:
            return JudgeResponse(text="I would rather talk about coffee.")
        if "[Principle]" in text and "polite" in text and "sleep" in text:
            return JudgeResponse(text="Hmm, hard to say.")
        if "[Principle]" in text and "friendlier" in text and "sleep" in text:
            return JudgeResponse(status="error", error="backend hiccup")
        return answer

    return ScriptedJudge(reply, supports_logprobs=False, judge_id="fake/flaky")


def test_unreadable_proposals_and_votes_are_stored_as_data(tmp_path: Path) -> None:
    prefs = synthetic_preferences(80, noise=0.0, seed=3)
    db = tmp_path / "flaky.duckdb"
    result = constitution(prefs, judge=_flaky(), db=db, **FAST)
    assert result.stats["proposal_failures"] > 0 and result.stats["vote_errors"] > 0
    with open_store(db, read_only=True) as store:
        failures = icai_queries.generation_failures(store, run_id=result.run_id)
        votes = icai_queries.votes(store, run_id=result.run_id)
        with store.connect() as con:
            raw = con.execute(
                "SELECT status, raw, error FROM icai_votes WHERE run_id = ? AND status <> 'ok'",
                [result.run_id],
            ).df()
    assert set(failures["status"]) == {"parse_error"}
    assert (failures["raw"] == "I would rather talk about coffee.").all()
    assert set(raw["status"]) == {"parse_error", "judge_error"}
    assert "Hmm, hard to say." in set(raw["raw"]) and "backend hiccup" in set(raw["error"])
    errors = votes[votes["vote"] == "error"]
    assert set(errors["status"]) == {"parse_error", "judge_error"}
    # The failures cost coverage, not correctness: the planted rules still come out on top.
    assert _rules(result.principles["principle"]) == set(RULES)


def test_every_stage_is_stored_and_a_rerun_makes_no_judge_calls(tmp_path: Path) -> None:
    prefs = synthetic_preferences(40, noise=0.0, seed=5)
    db = tmp_path / "icai.duckdb"
    first = constitution(prefs, judge=literal_judge(), db=db, max_principles=4, **FAST)
    again = constitution(prefs, judge=literal_judge(), db=db, max_principles=4, **FAST)
    assert again.run_id == first.run_id and again.stats["judge_calls_made"] == 0
    assert again.stats["judge_calls_cached"] == first.stats["judge_calls_unique"]
    assert again.rubric_text == first.rubric_text
    with open_store(db, read_only=True) as store:
        assert icai_queries.latest_run_id(store) == first.run_id
        stored = icai_queries.principles(store, run_id=first.run_id)
        every = icai_queries.principles(store, run_id=first.run_id, selected_only=False)
        report = icai_queries.report(store, run_id=first.run_id)
        assert icai_queries.rubric_yaml(store, run_id=first.run_id) == first.rubric_text
        proposals = icai_queries.proposals(store, run_id=first.run_id)
        recon = icai_queries.reconstructions(store, run_id=first.run_id, condition="none")
    assert list(stored["principle"]) == list(first.principles["principle"])
    assert list(stored["rank"]) == [1, 2, 3, 4] and every["selected"].sum() == 4
    assert len(every) == first.stats["clusters"]
    pd.testing.assert_frame_equal(
        report.drop(columns=["principle", "cluster_id"]),
        first.report.drop(columns=["principle", "cluster_id"]),
        check_dtype=False,
    )
    assert (
        len(proposals) == first.stats["principles_proposed"]
        and proposals["cluster_id"].notna().all()
    )
    assert len(recon) == first.stats["test_pairs"]
    con = duckdb.connect(str(db), read_only=True)
    counts = dict(
        con.execute(
            "SELECT split, count(*) FROM icai_pairs WHERE run_id = ? GROUP BY split",
            [first.run_id],
        ).fetchall()
    )
    n_votes = con.execute(
        "SELECT count(*) FROM icai_votes WHERE run_id = ?", [first.run_id]
    ).fetchone()
    con.close()
    assert counts == {"train": first.stats["train_pairs"], "test": first.stats["test_pairs"]}
    assert n_votes == (2 * first.stats["clusters_tested"] * first.stats["train_pairs"],)


class _Interrupting:
    """Passes calls to a judge, then raises Ctrl-C once ``limit`` calls went through."""

    def __init__(self, judge: ScriptedJudge, *, limit: int) -> None:
        self.inner, self.limit, self.calls = judge, limit, 0
        self.id, self.supports_logprobs, self.batch_size = judge.id, True, 32

    def judge(self, requests: Sequence[JudgeRequest]) -> list[JudgeResponse]:
        if self.calls >= self.limit:
            raise KeyboardInterrupt
        self.calls += len(requests)
        return self.inner.judge(requests)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    prefs = synthetic_preferences(40, noise=0.0, seed=5)
    db = tmp_path / "resume.duckdb"
    stopping = _Interrupting(literal_judge(), limit=150)
    with pytest.raises(KeyboardInterrupt):
        constitution(prefs, judge=stopping, db=db, **FAST)
    with open_store(db, read_only=True) as store, store.connect() as con:
        status = con.execute("SELECT status FROM runs WHERE kind = 'constitution'").fetchone()
    assert status == ("interrupted",)
    resumed = constitution(prefs, judge=literal_judge(), db=db, **FAST)
    fresh = constitution(prefs, judge=literal_judge(), db=":memory:", **FAST)
    assert resumed.stats["judge_calls_cached"] >= stopping.calls
    assert resumed.stats["judge_calls_made"] == fresh.stats["judge_calls_made"] - stopping.calls
    assert resumed.rubric_text == fresh.rubric_text.replace(fresh.run_id, resumed.run_id)


def test_the_constitution_judges_as_a_rubric(prefs: pd.DataFrame, tmp_path: Path) -> None:
    result = constitution(
        prefs,
        judge=literal_judge(),
        db=":memory:",
        max_principles=4,
        coverage=True,
        name="house-style",
        **FAST,
    )
    path = result.write_rubric(tmp_path / "out" / "constitution.yaml")
    loaded = load_rubric(path)
    assert loaded.rubric == result.rubric and loaded.name == "house-style"
    assert [c.question for c in loaded.rubric.criteria] == list(result.principles["principle"])
    assert "# for " in path.read_text(encoding="utf-8")
    # Judging with the constitution's criteria text, as `compare --rubric` does: a model
    # whose answers follow the planted rules beats one whose answers break them.
    rows = []
    for pid, prompt, good, bad in [
        ("q1", "Tips?", "Sleep at 10 pm.", "Sleep early, dude, it is kinda cool 🙂"),
        ("q2", "Coffee?", "Brew it for 4 minutes.", "Brew it for four minutes. " * 3 + "✨"),
    ]:
        rows.append({"prompt_id": pid, "prompt": prompt, "model": "follows", "output": good})
        rows.append({"prompt_id": pid, "prompt": prompt, "model": "breaks", "output": bad})
    board = compare(
        pd.DataFrame(rows),
        judge=literal_judge(),
        db=":memory:",
        criteria=criteria_text(loaded),
        bootstrap=0,
    ).leaderboard
    assert list(board["model"]) == ["follows", "breaks"]


def test_options_are_validated_before_anything_runs(prefs: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="max_principles"):
        constitution(prefs, judge=literal_judge(), db=":memory:", max_principles=0)
    with pytest.raises(ConfigError, match="nonsense"):
        constitution(prefs, judge=literal_judge(), db=":memory:", nonsense=1)
    opts = ConstitutionOptions(sample=30, test_sample=10, embedder="tfidf")
    small = constitution(prefs, judge=literal_judge(), db=":memory:", options=opts, seed=1)
    assert small.stats["train_pairs"] == 30 and small.stats["test_pairs"] == 10
    assert (small.report["n"] == 10).all()


def test_votes_in_small_chunks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from judgekit.runs.icai import vote as vote_module

    prefs = synthetic_preferences(40, noise=0.1, seed=9)
    whole = constitution(prefs, judge=literal_judge(), db=":memory:", **FAST)
    monkeypatch.setattr(vote_module, "CHUNK_REQUESTS", 50)  # one principle per chunk
    chunked = constitution(prefs, judge=literal_judge(), db=":memory:", **FAST)
    pd.testing.assert_frame_equal(chunked.candidates, whole.candidates)
    assert chunked.stats["judge_calls_made"] == whole.stats["judge_calls_made"]
