from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from tests.conftest import write_jsonl


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", [(), *_commands(cli)], ids=lambda p: " ".join(p) or "judgekit")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    command: click.Command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"{' '.join(path)} has no help text"


def test_compare_prints_leaderboard_and_stores(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    args = ["compare", *map(str, arena_files), "--judge", "fake/hash", "--db", str(db)]
    result = CliRunner().invoke(cli, [*args, "--bootstrap", "50", "--no-progress"])
    assert result.exit_code == 0, result.output
    for header in ("Rank", "Model", "Rating", "95% CI", "Win rate", "N"):
        assert header in result.stdout
    for model in ("good", "okay", "bad"):
        assert model in result.stdout
    again = CliRunner().invoke(cli, [*args, "--bootstrap", "50", "--json"])
    payload = json.loads(again.stdout)
    assert payload["stats"]["judge_calls_made"] == 0
    assert payload["stats"]["judge_calls_cached"] == 18
    assert {row["model"] for row in payload["leaderboard"]} == {"good", "okay", "bad"}
    assert set(payload["leaderboard"][0]) >= {"rank", "model", "rating", "ci_low", "ci_high"}
    board = CliRunner().invoke(cli, ["leaderboard", "--db", str(db), "--json"])
    assert json.loads(board.stdout)["leaderboard"] == payload["leaderboard"]


def test_bad_inputs_give_one_clear_error_and_write_nothing(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "j.duckdb"
    missing = write_jsonl(tmp_path / "m.jsonl", [{"prompt": "Q", "model": "m"}])
    bad_json = tmp_path / "b.jsonl"
    bad_json.write_text('{"prompt": "Q", "model": "m", "output": "x"}\n{oops\n')
    row = {"prompt_id": "1", "prompt": "Q", "model": "m", "output": "x"}
    dup = write_jsonl(tmp_path / "d.jsonl", [row, row])
    cases = [
        ([str(missing)], [], "m.jsonl:1: missing column(s): output"),
        ([str(bad_json)], [], "b.jsonl:2: malformed JSON"),
        ([str(dup)], [], "d.jsonl:2: duplicate"),
        ([*map(str, arena_files)], ["--judge", "nope/x"], "unknown judge provider 'nope'"),
        ([*map(str, arena_files)], ["--judge", "smollm2"], "must look like 'provider/model'"),
    ]
    for files, extra, message in cases:
        result = CliRunner().invoke(cli, ["compare", *files, *extra, "--db", str(db)])
        assert result.exit_code == 1, result.output
        assert message in result.stderr
        assert "Traceback" not in result.output
    assert not db.exists()


def test_single_model_prompt_warns_with_count(arena_files: list[Path], tmp_path: Path) -> None:
    extra = write_jsonl(
        tmp_path / "solo.jsonl",
        [{"prompt_id": "p9", "prompt": "Only one", "model": "solo", "output": "x"}],
    )
    result = CliRunner().invoke(
        cli,
        [
            "compare",
            *map(str, arena_files),
            str(extra),
            "--judge",
            "fake/hash",
            "--db",
            str(tmp_path / "j.duckdb"),
            "--bootstrap",
            "0",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "skipped 1 prompt(s) answered by only one model: p9" in result.stderr


def test_core_imports_stay_light() -> None:
    code = (
        "import sys, judgekit, judgekit.cli, judgekit.runs.compare, judgekit.store.queries;"
        "heavy = {'torch', 'transformers', 'vllm', 'litellm', 'streamlit', 'jax'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unreachable_base_url_is_one_clear_error(arena_files: list[Path], tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    db = tmp_path / "j.duckdb"
    result = CliRunner().invoke(
        cli,
        [
            "compare",
            *map(str, arena_files),
            "--judge",
            "openai/judge",
            "--base-url",
            f"http://127.0.0.1:{port}/v1",
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 1
    assert f"cannot reach http://127.0.0.1:{port}/v1" in result.stderr
    assert "Traceback" not in result.output and not db.exists()


def test_missing_extra_gives_install_hint(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    # Hide torch and transformers from this interpreter as if the extra were not installed.
    code = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] in {'torch', 'transformers'}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from judgekit.cli import cli; cli()\n"
    )
    files = [str(p) for p in arena_files]
    out = subprocess.run(
        [sys.executable, "-c", code, "compare", *files, "--judge", "hf/smollm2", "--db", str(db)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "pip install 'judgekit[local]'" in out.stderr
    assert "Traceback" not in out.stderr and not db.exists()
