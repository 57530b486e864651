"""``judgekit constitution`` through click: tables, JSON, the rubric file, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.constitution import constitution as constitution_command
from judgekit.judges.base import Judge
from judgekit.rubrics import load_rubric
from judgekit.runs.icai import api as icai_api
from judgekit.runs.icai import literal_judge, synthetic_preferences


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> click.Group:
    """A group holding only this command, with the CLI's error handling, whose judge ids
    resolve to the literal scripted judge."""

    def resolve(judge_id: str, *, options: object = None) -> Judge:
        return literal_judge()

    monkeypatch.setattr(icai_api, "get_judge", resolve)
    group = JudgekitGroup(commands={"constitution": constitution_command})
    return group


@pytest.fixture
def prefs_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prefs.csv"
    synthetic_preferences(120, noise=0.05, seed=2).to_csv(path, index=False)
    return path


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(constitution_command, ["--help"])
    assert result.exit_code == 0
    for option in ("--judge", "--max-principles", "--sample", "--seed", "--db", "--json", "-o"):
        assert option in result.output


def test_prints_the_constitution_and_the_report_and_writes_the_rubric(
    cli: click.Group, prefs_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "constitution.yaml"
    args = ["constitution", str(prefs_csv), "--judge", "fake/literal", "--max-principles", "4"]
    args += ["--coverage", "--embedder", "tfidf", "--db", str(tmp_path / "k.duckdb")]
    result = CliRunner().invoke(cli, [*args, "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Constitution · fake/literal" in result.stdout and "Principle" in result.stdout
    assert "no constitution" in result.stdout and "the constitution" in result.stdout
    assert "principle_01 alone" in result.stdout
    assert f"written to {out}" in result.stderr
    assert len(load_rubric(out).rubric.criteria) == 4

    again = CliRunner().invoke(cli, [*args, "--json"])
    assert again.exit_code == 0, again.output
    payload = json.loads(again.stdout)
    assert payload["stats"]["judge_calls_made"] == 0 and payload["rubric_path"] is None
    assert [p["rank"] for p in payload["principles"]] == [1, 2, 3, 4]
    conditions = [r["condition"] for r in payload["report"]]
    assert conditions[:2] == ["none", "constitution"] and len(conditions) == 6


def test_bad_input_is_one_clear_line_with_file_and_line(cli: click.Group, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("text_a,text_b,preferred\nx,y,a\nx,y,sideways\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["constitution", str(bad), "--db", str(tmp_path / "k.db")])
    assert result.exit_code == 1
    assert f"Error: {bad}:3: preferred is 'sideways'" in result.output


def test_no_qualifying_principle_is_reported_not_written(
    cli: click.Group, prefs_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "c.yaml"
    # Each planted rule decides only its own quarter of the pairs.
    args = ["constitution", str(prefs_csv), "--min-relevance", "0.9", "--embedder", "tfidf"]
    args += ["--db", str(tmp_path / "k.db"), "-o", str(out), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "No principle passed the filters" in result.stderr and not out.exists()
    assert "no constitution" in result.stdout  # the baseline is still reported
