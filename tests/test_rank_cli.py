"""Battle files and the ``judgekit rank`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from judgekit.cli import JudgekitGroup
from judgekit.commands.rank import rank
from judgekit.errors import InputError
from judgekit.inputs.battles import load_battles
from judgekit.rank import bradley_terry, ratings_frame

DATA = Path(__file__).parent / "data" / "rank"

BATTLES = pd.DataFrame(
    {
        "model_a": ["gpt", "gpt", "claude", "llama", "claude", "llama", "gpt", "mistral"],
        "model_b": ["claude", "llama", "llama", "gpt", "gpt", "claude", "claude", "gpt"],
        "winner": [
            "model_a",
            "model_a",
            "model_a",
            "tie",
            "model_a",
            "tie (bothbad)",
            "model_b",
            "model_b",
        ],
        "weight": [1, 1, 3, 1, 1, 1, 1, 1],
    }
)


def group() -> JudgekitGroup:
    """The command under the CLI's error handling, as ``judgekit rank`` runs it."""
    return JudgekitGroup(commands={"rank": rank})


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(group(), ["rank", *args])
    return result.exit_code, result.output


@pytest.fixture
def battle_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "csv": tmp_path / "b.csv",
        "jsonl": tmp_path / "b.jsonl",
        "json": tmp_path / "b.json",
        "parquet": tmp_path / "b.parquet",
    }
    BATTLES.to_csv(files["csv"], index=False)
    BATTLES.to_json(files["jsonl"], orient="records", lines=True)
    BATTLES.to_json(files["json"], orient="records")
    BATTLES.to_parquet(files["parquet"])
    return files


def test_every_format_reads_the_same_battles(battle_files: dict[str, Path]) -> None:
    loaded = {kind: load_battles(path) for kind, path in battle_files.items()}
    reference = loaded["csv"]
    assert reference.models == ("claude", "gpt", "llama", "mistral")
    for data in loaded.values():
        assert data.models == reference.models
        for field in ("a", "b", "win_a", "win_b", "tie", "weight"):
            np.testing.assert_array_equal(getattr(data, field), getattr(reference, field))
    assert reference.tie.sum() == 2 and reference.weight.max() == 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        # A quoted answer spans lines 2-3, so the bad label sits on line 5.
        (
            "bad_label.csv",
            'model_a,model_b,winner,response_a\nx,y,model_a,"two\nlines"\nx,y,tie,ok\n'
            "y,x,model_c,ok\n",
            "bad_label.csv:5: unknown winner label",
        ),
        (
            "self.jsonl",
            '{"model_a": "x", "model_b": "y", "winner": "tie"}\n\n'
            '{"model_a": "x", "model_b": "x", "winner": "model_a"}\n',
            "self.jsonl:3: a model cannot battle itself: 'x'",
        ),
        (
            "broken.jsonl",
            '{"model_a": "x", "model_b": "y", "winner": "tie"}\n{"model_a": "x",\n',
            "broken.jsonl:2: malformed JSON",
        ),
        ("header_only.csv", "model_a,model_b,winner\n", "no battles in the file"),
        ("empty.jsonl", "", "no battles in the file"),
        ("empty.csv", "", "empty file"),
        ("no_winner.csv", "model_a,model_b\nx,y\n", "need a 'winner' column"),
        ("no_model.csv", "model_a,winner\nx,tie\n", "missing column(s): model_b"),
        ("blank.csv", "model_a,model_b,winner\nx,,tie\n", "blank.csv:2: 'model_b' is empty"),
        (
            "weight.csv",
            "model_a,model_b,winner,weight\nx,y,tie,-2\n",
            "weight.csv:2: 'weight' must be a finite number >= 0",
        ),
        ("table.xlsx", "x", "unsupported battle file type .xlsx"),
        (
            "weight_text.csv",
            "model_a,model_b,winner,weight\nx,y,tie,\ny,x,tie,heavy\n",
            "weight_text.csv:3: 'weight' is not a number: 'heavy'",
        ),
    ],
)
def test_bad_files_name_the_file_and_line(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_battles(path)
    assert message in str(info.value)
    code, output = run(str(path))
    assert code == 1 and message in output


def test_a_missing_weight_means_one(tmp_path: Path) -> None:
    path = tmp_path / "partial.jsonl"
    path.write_text(
        '{"model_a": "x", "model_b": "y", "winner": "model_a", "weight": 3}\n'
        '{"model_a": "y", "model_b": "x", "winner": "model_a"}\n',
        encoding="utf-8",
    )
    np.testing.assert_array_equal(load_battles(path).weight, [3.0, 1.0])


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_battles(tmp_path / "nope.csv")


def test_model_named_in_one_row_is_allowed_but_flagged(battle_files: dict[str, Path]) -> None:
    code, output = run(str(battle_files["csv"]), "--bootstrap", "50")
    assert code == 0, output
    assert "Not identifiable: mistral (only one comparison)" in output
    for model in ("gpt", "claude", "llama", "mistral"):
        assert model in output


def test_json_output_is_a_leaderboard(battle_files: dict[str, Path]) -> None:
    code, output = run(str(battle_files["jsonl"]), "--json", "--bootstrap", "100", "--seed", "3")
    assert code == 0, output
    payload = json.loads(output)
    board = pd.DataFrame(payload["leaderboard"])
    expected = ratings_frame(
        bradley_terry(load_battles(battle_files["csv"]), bootstrap=100, seed=3)
    )
    assert list(board["model"]) == list(expected["model"])
    np.testing.assert_allclose(board["ci_low"], expected["ci_low"])
    assert list(board["rank"]) == list(expected["rank"])
    assert set(board.columns) >= {
        "rank",
        "model",
        "rating",
        "ci_low",
        "ci_high",
        "identifiable",
        "n",
        "win_rate",
    }
    assert board["rating"].is_monotonic_decreasing
    assert payload["method"] == "bt" and payload["extras"]["bootstrap"]["rounds"] == 100
    assert "bootstrap_ratings" not in payload["extras"]
    assert dict(zip(board["model"], board["n"], strict=True))["gpt"] == 6


@pytest.mark.parametrize(
    "args",
    [
        ["--method", "elo", "--bootstrap", "20"],
        ["--method", "pl", "--bootstrap", "20"],
        ["--method", "openskill"],
        ["--ties", "davidson", "--ci", "sandwich"],
        ["--ties", "rao-kupper", "--bootstrap", "50"],
        ["--anchor", "gpt=1200", "--bootstrap", "0"],
    ],
)
def test_methods_and_options(battle_files: dict[str, Path], args: list[str]) -> None:
    code, output = run(str(battle_files["csv"]), "--json", *args)
    assert code == 0, output
    board = pd.DataFrame(json.loads(output)["leaderboard"])
    assert len(board) == 4 and np.isfinite(board["rating"]).all()
    if "--anchor" in args:
        assert dict(zip(board["model"], board["rating"], strict=True))["gpt"] == 1200.0


def test_style_controlled_method_on_arena_style_columns() -> None:
    code, output = run(str(DATA / "style_battles.csv"), "--method", "bt-style")
    assert code == 0, output
    assert "Style coefficients" in output and "length" in output


def test_ties_option_applies_to_bt_only(battle_files: dict[str, Path]) -> None:
    code, output = run(str(battle_files["csv"]), "--method", "elo", "--ties", "davidson")
    assert code == 2 and "--ties and --ci apply to --method bt only" in output


def _store_ready() -> bool:
    try:
        from judgekit.store.db import Store
    except ImportError:
        return False
    return all(hasattr(Store, m) for m in ("create_run", "write_ratings", "finish_run"))


@pytest.mark.skipif(not _store_ready(), reason="judgekit.store.db has no ratings API yet")
def test_db_option_stores_the_leaderboard(battle_files: dict[str, Path], tmp_path: Path) -> None:
    from judgekit.store import queries
    from judgekit.store.db import open_store

    db = tmp_path / "rank.duckdb"
    code, output = run(str(battle_files["csv"]), "--db", str(db), "--bootstrap", "30")
    assert code == 0, output
    with open_store(db, read_only=True) as store:
        run_id = queries.latest_run_id(store, kind="rank")
        stored = queries.leaderboard(store, run_id=run_id, method="bt")
    assert set(stored["model"]) == {"gpt", "claude", "llama", "mistral"}
    assert f"Stored as run {run_id}" in output
