"""The trust report on the command line: the trust line, warning blocks, ``--json``'s ``trust``
object, ``--strict`` (exit code 3 with the run stored) and ``leaderboard`` re-reading it."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.compare import compare
from judgekit.commands.grade import grade
from judgekit.commands.leaderboard import leaderboard
from judgekit.commands.meta import meta
from judgekit.store import queries
from judgekit.store.db import open_store
from judgekit.store.trust_queries import load_trust
from tests.conftest import write_jsonl
from tests.test_meta_report import LABELS

TRUST_KEYS = {
    "flip_rate",
    "flip_rate_ci",
    "first_position_rate",
    "p_first_position",
    "p_no_difference",
    "warnings",
}
LABEL_KEYS = {
    "accuracy",
    "accuracy_ci",
    "kappa",
    "kappa_ci",
    "p_chance",
    "always_longer_accuracy",
    "always_first_accuracy",
    "always_second_accuracy",
}


@click.group(cls=JudgekitGroup)
def cli() -> None:
    """The commands under test, with the CLI's error handling."""


for command in (compare, grade, leaderboard, meta):
    cli.add_command(command)


def _run(*args: object) -> click.testing.Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def _compare(files: list[Path], db: Path, *extra: object) -> click.testing.Result:
    return _run("compare", *files, "--judge", "fake/always-b", "--db", db, "--no-progress", *extra)


def test_compare_prints_the_trust_line_and_a_warning_block(
    arena_files: list[Path], tmp_path: Path
) -> None:
    result = _compare(arena_files, tmp_path / "j.duckdb", "--bootstrap", "50")
    assert result.exit_code == 0, result.output
    assert "Trust: flip rate 100.0%" in result.stdout
    assert "first shown picked 0.0%" in result.stdout
    assert "judge trust warning" in result.stderr
    assert "swapped places" in result.stderr
    # The CLI shows warnings as blocks, not as Python warning lines.
    assert "JudgeTrustWarning" not in result.stderr


def test_compare_json_has_a_top_level_trust_object(arena_files: list[Path], tmp_path: Path) -> None:
    result = _compare(arena_files, tmp_path / "j.duckdb", "--json", "--bootstrap", "50")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    trust = payload["trust"]
    assert TRUST_KEYS <= set(trust)
    assert not LABEL_KEYS & set(trust)
    assert trust["flip_rate"] == 1.0 and len(trust["warnings"]) >= 2
    assert all(isinstance(w, str) for w in trust["warnings"])


def test_strict_exits_3_after_storing_the_run(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    result = _compare(arena_files, db, "--strict", "--bootstrap", "0")
    assert result.exit_code == 3, result.output
    assert "--strict" in result.stderr
    with open_store(db, read_only=True) as store:
        runs = queries.runs(store)
        assert list(runs["status"]) == ["finished"]
        run_id = runs["run_id"].iloc[0]
        assert load_trust(store, run_id)["warnings"]
        assert len(queries.leaderboard(store, run_id=run_id)) == 3
    # --json with --strict: the JSON is printed, then the exit code says it is untrusted.
    again = _compare(arena_files, db, "--strict", "--json", "--bootstrap", "0")
    assert again.exit_code == 3
    assert json.loads(again.stdout)["trust"]["warnings"]


def test_compare_human_labels_add_the_label_figures(
    arena_files: list[Path], tmp_path: Path
) -> None:
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [{"prompt_id": p, "model_a": a, "model_b": b, "winner": w} for p, a, b, w in LABELS],
    )
    db = tmp_path / "j.duckdb"
    result = _compare(arena_files, db, "--human", labels, "--json", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    trust = json.loads(result.stdout)["trust"]
    assert LABEL_KEYS <= set(trust)
    # always-b turns every pair into a tie (both orders disagree): 2 of the 9 labels are ties.
    assert trust["accuracy"] == 2 / 9
    text = _compare(arena_files, db, "--human", labels, "--bootstrap", "0")
    assert "accuracy 22.2%" in text.stdout and "always longer" in text.stdout
    assert "not better than chance" in text.stderr


def test_leaderboard_shows_the_stored_trust_line(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    assert _compare(arena_files, db, "--bootstrap", "0").exit_code == 0
    board = _run("leaderboard", "--db", db)
    assert board.exit_code == 0, board.output
    assert "Trust: flip rate 100.0%" in board.stdout
    assert "judge trust warning" in board.stderr
    payload = json.loads(_run("leaderboard", "--db", db, "--json").stdout)
    assert payload["trust"]["flip_rate"] == 1.0


def test_meta_report_has_trust_with_labels_and_strict(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "j.duckdb"
    assert _compare(arena_files, db, "--bootstrap", "0").exit_code == 0
    labels = write_jsonl(
        tmp_path / "labels.jsonl",
        [{"prompt_id": p, "model_a": a, "model_b": b, "winner": w} for p, a, b, w in LABELS],
    )
    result = _run("meta", "--db", db, "--human", labels, "--json")
    assert result.exit_code == 0, result.output
    trust = json.loads(result.stdout)["trust"]
    assert (TRUST_KEYS | LABEL_KEYS) <= set(trust)
    assert trust["flip_rate"] == 1.0
    text = _run("meta", "--db", db, "--strict")
    assert text.exit_code == 3
    assert "Trust:" in text.stdout and "accuracy" in text.stdout
    assert "judge trust warning" in text.stderr


def test_grade_trust_line_and_strict(tmp_path: Path) -> None:
    def outputs(prompts: int) -> Path:
        rows = [
            {"prompt_id": f"p{i}", "prompt": "Say hi.", "model": m, "output": f"hi from {m}"}
            for i in range(prompts)
            for m in ("a", "b")
        ]
        return write_jsonl(tmp_path / f"outs{prompts}.jsonl", rows)

    db = tmp_path / "g.duckdb"
    common = ["--rubric", "helpfulness", "--judge", "fake/hash", "--db", db, "--no-progress"]
    # fake/hash scores model b well above model a on these four prompts.
    result = _run("grade", outputs(4), *common, "--json", "--strict")
    assert result.exit_code == 0, result.output
    trust = json.loads(result.stdout)["trust"]
    assert trust["flip_rate"] is None and trust["first_position_rate"] is None
    assert trust["separation_test"] == "kruskal-wallis"
    assert trust["p_no_difference"] < 0.05 and trust["warnings"] == []
    # One prompt per model cannot separate anything: the warning, and --strict exits 3.
    text = _run("grade", outputs(1), *common, "--strict")
    assert text.exit_code == 3, text.output
    assert "position n/a" in text.stdout
    assert "cannot tell the models apart" in text.stderr


def test_meta_judges_on_llmbar_labels_warns_and_stores_label_figures(tmp_path: Path) -> None:
    # LLMBar's layout carries its own answers: meta judges them, then checks the judge.
    rows = [
        {
            "input": "What is 2 + 2?",
            "output_1": "4.",
            "output_2": "It is five, clearly.",
            "label": 1,
        },
        {"input": "Name a colour.", "output_1": "A loud sound.", "output_2": "Blue.", "label": 2},
        {
            "input": "Capital of Italy?",
            "output_1": "Rome.",
            "output_2": "Milan, I think.",
            "label": 1,
        },
        {"input": "A prime below 5?", "output_1": "Four is one.", "output_2": "3.", "label": 2},
    ]
    labels = tmp_path / "llmbar.json"
    labels.write_text(json.dumps(rows), encoding="utf-8")
    db = tmp_path / "m.duckdb"
    args = ["meta", "--judges", "fake/always-b", "--human", labels, "--db", db, "--no-progress"]
    result = _run(*args, "--strict")
    assert result.exit_code == 3, result.output
    assert "fake/always-b:" in result.stdout and "Trust: flip rate 100.0%" in result.stdout
    # always-b flips every pair into a tie, and no LLMBar label is a tie: accuracy 0.
    assert "accuracy 0.0%" in result.stdout and "always longer 0.0%" in result.stdout
    assert "not better than chance" in result.stderr
    with open_store(db, read_only=True) as store:
        run_id = queries.latest_run_id(store)
        stored = load_trust(store, run_id)
    assert stored is not None and LABEL_KEYS <= set(stored)
    assert stored["n_labels"] == 4 and stored["always_first_accuracy"] == 0.5
