"""Preference loading for constitution extraction: the public shapes (ICAI CSV, Chatbot Arena,
MT-Bench, AlpacaEval, plain pairs), errors with file:line, ties, ids and the split."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from judgekit.errors import ConfigError, InputError
from judgekit.runs.icai.data import load_preferences, split_pairs
from tests.conftest import write_jsonl

DATA = Path(__file__).parent / "data" / "icai"


def _labels(path: Path) -> list[str]:
    return [p.preferred for p in load_preferences(path).pairs]


def test_icai_csv_with_input_column_and_ties() -> None:
    prefs = load_preferences(DATA / "icai.csv")
    assert prefs.formats == {str(DATA / "icai.csv"): "icai"}
    assert [p.preferred for p in prefs.pairs] == ["a", "b", "tie", "tie"]
    first = prefs.pairs[0]
    assert first.prompt == "What is the capital of France?"
    assert first.text_a == "Paris is the capital of France."
    assert first.source == f"{DATA / 'icai.csv'}:2"
    # No input: the texts carry the conversation and the prompt is empty.
    assert prefs.pairs[3].prompt == "" and "Human: Hi" in prefs.pairs[3].text_a
    assert prefs.n_ties == 2 and len(prefs.decided) == 2


def test_chatbot_arena_battles() -> None:
    prefs = load_preferences(DATA / "arena.jsonl")
    assert set(prefs.formats.values()) == {"arena"}
    assert [p.preferred for p in prefs.pairs] == ["a", "tie", "b"]
    assert prefs.pairs[0].prompt == "Name a prime."
    assert (prefs.pairs[0].text_a, prefs.pairs[0].text_b) == ("7 is prime.", "Nine.")


def test_mt_bench_judgments_keep_only_the_judged_turns() -> None:
    prefs = load_preferences(DATA / "mt_bench.jsonl")
    assert set(prefs.formats.values()) == {"mt_bench"}
    turn1, turn2, tie = prefs.pairs
    assert turn1.prompt == "Write a haiku about rain." and turn1.text_a == "Rain rain rain."
    assert turn1.preferred == "b"
    # Turn 2 was judged on both exchanges, so both stay, numbered.
    assert (
        turn2.prompt.startswith("[Turn 1] Write a haiku") and "[Turn 2] Now make it" in turn2.prompt
    )
    assert turn2.text_a == "[Turn 1] Rain rain rain.\n\n[Turn 2] Sad rain."
    assert turn2.preferred == "a" and tie.preferred == "tie"


def test_alpaca_eval_annotations() -> None:
    prefs = load_preferences(DATA / "alpaca_eval.json")
    assert set(prefs.formats.values()) == {"alpaca_eval"}
    # 1 -> output_1, 2 -> output_2, 1.5 -> draw, a weighted 1.8 leans to output_2.
    assert [p.preferred for p in prefs.pairs] == ["a", "b", "tie", "b"]
    assert prefs.pairs[1].prompt == "Translate to French:\n\ncat"


def test_arena_kaggle_export_with_json_encoded_turns() -> None:
    prefs = load_preferences(DATA / "arena_kaggle.csv")
    assert [p.preferred for p in prefs.pairs] == ["a", "b", "tie"]
    two_turns = prefs.pairs[1]
    assert two_turns.prompt == "[Turn 1] What is 3+3?\n\n[Turn 2] And 4+4?"
    assert two_turns.text_b == "[Turn 1] Six.\n\n[Turn 2] "  # a null turn is an empty one


def test_plain_pairs_and_label_spellings() -> None:
    assert _labels(DATA / "pairs.jsonl") == ["a", "b", "tie"]


def test_dataframes_parquet_and_several_sources(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"text_a": ["x", "y"], "text_b": ["yy", "x"], "preferred": ["text_a", "model_b"]}
    )
    parquet = tmp_path / "prefs.parquet"
    frame.to_parquet(parquet)
    prefs = load_preferences([frame, parquet])
    assert [p.preferred for p in prefs.pairs] == ["a", "b", "a", "b"]
    assert prefs.sources == ["<dataframe 0>", str(parquet)]
    assert prefs.pairs[3].source == f"{parquet}:2"


def test_pair_ids_are_content_hashes_and_repeats_get_suffixes(tmp_path: Path) -> None:
    row = {"prompt": "p", "text_a": "x", "text_b": "y", "preferred": "a"}
    path = write_jsonl(tmp_path / "p.jsonl", [row, {**row, "preferred": "b"}, row])
    ids = [p.pair_id for p in load_preferences(path).pairs]
    assert ids[0].startswith("pair-") and ids[1:] == [f"{ids[0]}-2", f"{ids[0]}-3"]
    assert [p.pair_id for p in load_preferences(path).pairs] == ids  # stable across loads


@pytest.mark.parametrize(
    ("rows", "message", "line"),
    [
        ([{"text_a": "x", "text_b": "y", "preferred": "maybe"}], "preferred is 'maybe'", 1),
        ([{"text_a": "x", "text_b": "", "preferred": "a"}], "missing or empty 'text_b'", 1),
        (
            [{"text_a": "x", "text_b": "y", "preferred": "a"}, {"a": 1}],
            "missing or empty 'text_a'",
            2,
        ),
        ([{"foo": 1}], "cannot tell the preference format", 1),
        (
            [{"conversation_a": [], "conversation_b": [], "winner": "model_a"}],
            "conversation_a must be a non-empty list",
            1,
        ),
        (
            [
                {
                    "conversation_a": [{"role": "user", "content": "q"}],
                    "conversation_b": [{"role": "user", "content": "q"}],
                    "winner": "model_a",
                }
            ],
            "needs at least one user message and one assistant reply",
            1,
        ),
        (
            [{"instruction": "i", "output_1": "x", "output_2": "y", "preference": 0}],
            "never annotated",
            1,
        ),
    ],
)
def test_bad_rows_name_file_and_line(
    tmp_path: Path, rows: list[dict[str, object]], message: str, line: int
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError, match=message) as info:
        load_preferences(path)
    assert info.value.path == str(path) and info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_csv_errors_count_the_header_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text_a,text_b,preferred\nx,y,a\nx,y,left\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.csv:3: preferred is 'left'"):
        load_preferences(path)


def test_missing_empty_and_unknown_inputs(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_preferences(tmp_path / "nope.csv")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="no preference rows"):
        load_preferences(empty)
    with pytest.raises(ConfigError, match="unknown preference format"):
        load_preferences(DATA / "pairs.jsonl", format="xml")  # type: ignore[arg-type]
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps({"text_a": "x"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.jsonl:1: cannot tell"):
        load_preferences(broken)


def test_forced_format_reads_a_shape_auto_detection_would_miss(tmp_path: Path) -> None:
    # No "turn" column, yet the caller knows these are MT-Bench rows: same parser, no error.
    path = DATA / "arena.jsonl"
    assert load_preferences(path, format="mt_bench").formats[str(path)] == "mt_bench"
    with pytest.raises(InputError, match="missing or empty 'text_a'"):
        load_preferences(path, format="pairs")


def test_split_is_seeded_disjoint_and_skips_ties(tmp_path: Path) -> None:
    rows = [
        {"text_a": f"a{i}", "text_b": f"b{i}", "preferred": "tie" if i % 5 == 0 else "a"}
        for i in range(40)
    ]
    prefs = load_preferences(write_jsonl(tmp_path / "p.jsonl", rows))
    split = split_pairs(prefs, sample=20, test_fraction=0.25, test_sample=None, seed=3)
    train, test = {p.pair_id for p in split.train}, {p.pair_id for p in split.test}
    assert len(test) == 8 and len(train) == 20 and not train & test
    assert len(split.unused) == 4 and all(p.preferred != "tie" for p in split.train)
    again = split_pairs(prefs, sample=20, test_fraction=0.25, test_sample=None, seed=3)
    assert [p.pair_id for p in again.train] == [p.pair_id for p in split.train]
    other = split_pairs(prefs, sample=20, test_fraction=0.25, test_sample=None, seed=4)
    assert [p.pair_id for p in other.train] != [p.pair_id for p in split.train]
    # A bigger sample never moves a held-out pair into training.
    wide = split_pairs(prefs, sample=1000, test_fraction=0.25, test_sample=3, seed=3)
    assert {p.pair_id for p in wide.test} < test and not {p.pair_id for p in wide.train} & test


def test_split_needs_decided_pairs(tmp_path: Path) -> None:
    ties = write_jsonl(tmp_path / "t.jsonl", [{"text_a": "x", "text_b": "y", "preferred": "tie"}])
    with pytest.raises(InputError, match="all 1 rows are ties"):
        split_pairs(load_preferences(ties), sample=5, test_fraction=0.2, test_sample=None, seed=0)
    one = write_jsonl(tmp_path / "o.jsonl", [{"text_a": "x", "text_b": "y", "preferred": "a"}])
    with pytest.raises(InputError, match="cannot be split"):
        split_pairs(load_preferences(one), sample=5, test_fraction=0.2, test_sample=None, seed=0)
    alone = split_pairs(
        load_preferences(one), sample=5, test_fraction=0.0, test_sample=None, seed=0
    )
    assert len(alone.train) == 1 and not alone.test
