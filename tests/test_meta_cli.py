"""``judgekit meta``, ``judgekit import`` and ``judgekit export`` through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.compare import compare
from judgekit.commands.formats import export, import_
from judgekit.commands.meta import meta
from judgekit.inputs.battles import load_battles
from judgekit.inputs.formats import mtbench as mt
from judgekit.inputs.outputs import load_outputs
from tests.conftest import write_jsonl
from tests.test_meta_report import LABELS

DATA = Path(__file__).parent / "data" / "formats"


@click.group(cls=JudgekitGroup)
def cli() -> None:
    """The commands under test, with the CLI's error handling."""


for command in (compare, meta, import_, export):
    cli.add_command(command)


def _run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def compared(arena_files: list[Path], tmp_path: Path) -> Path:
    db = tmp_path / "j.duckdb"
    args = ["compare", *arena_files, "--judge", "fake/always-a", "--db", db]
    result = _run(*args, "--bootstrap", "0", "--no-progress")
    assert result.exit_code == 0, result.output
    return db


def test_meta_prints_the_report_and_stores_it(compared: Path, tmp_path: Path) -> None:
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [{"prompt_id": p, "model_a": a, "model_b": b, "winner": w} for p, a, b, w in LABELS],
    )
    result = _run("meta", "--db", compared, "--human", labels)
    assert result.exit_code == 0, result.output
    for text in ("Judge quality", "position flip rate", "100.0%", "accuracy (with ties)"):
        assert text in result.stdout
    payload = json.loads(_run("meta", "--db", compared, "--json").stdout)
    values = {m["metric"]: m["value"] for m in payload["metrics"]}
    assert values["position flip rate"] == 1.0
    # The labels were stored with the run by the first call.
    assert values["accuracy (with ties)"] == pytest.approx(2 / 9)


def test_meta_compares_judges_on_human_labels(arena_files: list[Path], tmp_path: Path) -> None:
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [{"prompt_id": p, "model_a": a, "model_b": b, "winner": w} for p, a, b, w in LABELS],
    )
    db = tmp_path / "j.duckdb"
    args = ["meta", "--judges", "fake/always-a,fake/hash", "--human", labels, "--db", db]
    result = _run(*args, *arena_files, "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    rows = {row["judge"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"fake/always-a", "fake/hash"}
    assert rows["fake/always-a"]["position flip rate"] == 1.0
    assert rows["fake/always-a"]["accuracy (with ties)"] == pytest.approx(2 / 9)
    table = _run(*args, *arena_files, "--no-progress")
    assert "Judges compared" in table.stdout
    missing = _run("meta", "--judges", "fake/hash", "--db", db, *arena_files)
    assert missing.exit_code == 2 and "--human" in missing.output


def test_meta_on_a_missing_store_fails_cleanly(tmp_path: Path) -> None:
    result = _run("meta", "--db", tmp_path / "none.duckdb")
    assert result.exit_code == 1 and "no such store" in result.output


def test_import_mtbench_judgments_and_measure_them_against_humans(tmp_path: Path) -> None:
    """MT-Bench's classic check: GPT-4 pair judgments against the human judgments."""
    db = tmp_path / "j.duckdb"
    pair = DATA / "mtbench" / "model_judgment" / "gpt-4_pair.jsonl"
    result = _run("import", "mtbench-judgments", pair, "--db", db, "--judge", "gpt-4")
    assert result.exit_code == 0, result.output
    assert "stored 7 comparisons" in result.output
    human = DATA / "mtbench" / "human_judgments.json"
    payload = json.loads(_run("meta", "--db", db, "--human", human, "--json").stdout)
    values = {m["metric"]: m["value"] for m in payload["metrics"]}
    # 7 human votes; the judge agrees with 6. Without ties 4 of 5. Judge labels a/b/tie =
    # 2/3/2, human 1/4/2: p_e = 18/49 and kappa = (6/7 - 18/49) / (31/49) = 24/31.
    assert values["accuracy (with ties)"] == pytest.approx(6 / 7)
    assert values["accuracy (without ties)"] == pytest.approx(4 / 5)
    assert values["Cohen's kappa"] == pytest.approx(24 / 31)
    assert values["accuracy, first order only (ab)"] == pytest.approx(5 / 7)
    assert values["accuracy, second order only (ba)"] == pytest.approx(4 / 7)
    # The judge is GPT-4 and gpt-4 is a candidate: judge 5.5/6 vs gold 4.5/6 on the votes.
    assert values["self-preference DBG"] == pytest.approx(1 / 6)


def test_import_writes_outputs_that_compare_reads(tmp_path: Path) -> None:
    out = tmp_path / "outputs.jsonl"
    answers = sorted((DATA / "mtbench" / "model_answer").glob("*.jsonl"))
    questions = DATA / "mtbench" / "question.jsonl"
    result = _run("import", "mtbench", *answers, "--questions", questions, "-o", out)
    assert result.exit_code == 0, result.output
    assert len(load_outputs([out]).candidates) == 9
    no_questions = _run("import", "mtbench", *answers, "-o", out)
    assert no_questions.exit_code == 2 and "--questions" in no_questions.output
    single = DATA / "mtbench" / "model_judgment" / "gpt-4_single.jsonl"
    scores = tmp_path / "scores.jsonl"
    assert _run("import", "mtbench-judgments", single, "-o", scores).exit_code == 0
    assert len(scores.read_text().splitlines()) == 6
    refused = _run("import", "mtbench-judgments", single, "--db", tmp_path / "s.duckdb")
    assert refused.exit_code == 2 and "--what scores" in refused.output
    labels = tmp_path / "labels.csv"
    human = DATA / "mtbench" / "human_judgments.json"
    assert _run("import", "mtbench-human", human, "-o", labels).exit_code == 0
    assert labels.read_text().startswith("prompt_id,model_a,model_b,winner,annotator,weight")


def test_import_reports_malformed_files_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "battles.jsonl"
    bad.write_text('{"model_a": "x", "model_b": "y", "winner": "model_a"}\n{"model_a": "x"\n')
    result = _run("import", "chatbot-arena", bad, "-o", tmp_path / "out.jsonl")
    assert result.exit_code == 1
    assert f"{bad}:2: malformed JSON" in result.output


def test_export_writes_tables_and_peer_formats(compared: Path, tmp_path: Path) -> None:
    for fmt in ("csv", "parquet", "jsonl"):
        out = tmp_path / f"ratings.{fmt}"
        result = _run("export", "--db", compared, "--format", fmt, "--table", "ratings", "-o", out)
        assert result.exit_code == 0, result.output
        assert out.exists()
    assert (tmp_path / "ratings.csv").read_text().startswith("rank,model,rating")
    battles = tmp_path / "battles.jsonl"
    assert _run("export", "--db", compared, "--format", "battles", "-o", battles).exit_code == 0
    assert len(load_battles(battles)) == 9
    assert json.loads(battles.read_text().splitlines()[0])["conversation_a"][0]["role"] == "user"
    pair = tmp_path / "gpt-4_pair.jsonl"
    assert _run("export", "--db", compared, "--format", "mtbench", "-o", pair).exit_code == 0
    verdicts = mt.read_mtbench_pair_judgments(pair)
    # FixedJudge always picks position A: g1 names model_1, g2 names model_2.
    assert set(verdicts[verdicts["position_order"] == "ab"]["winner"]) == {"model_a"}
    assert set(verdicts[verdicts["position_order"] == "ba"]["winner"]) == {"model_b"}
    no_base = _run("export", "--db", compared, "--format", "arena-hard", "-o", tmp_path / "ah")
    assert no_base.exit_code == 1 and "--baseline" in no_base.output
    ah_dir = tmp_path / "ah"
    args = ["export", "--db", compared, "--format", "arena-hard", "--baseline", "good"]
    assert _run(*args, "-o", ah_dir).exit_code == 0
    assert sorted(p.name for p in ah_dir.glob("*/*.jsonl")) == ["bad.jsonl", "okay.jsonl"]
