from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from judgekit.errors import InputError
from judgekit.inputs.outputs import load_outputs, prompt_id_for
from tests.conftest import write_jsonl


def test_jsonl_files_load_into_items_and_candidates(arena_files: list[Path]) -> None:
    data = load_outputs(arena_files)
    assert data.models == ["bad", "good", "okay"]
    assert sorted(data.items) == ["p1", "p2", "p3"]
    assert len(data.candidates) == 9
    assert data.by_prompt()["p1"]["good"].output == "The capital of France is Paris."


def test_csv_and_parquet_and_dataframe_are_equivalent(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "prompt_id": ["q1", "q1", "q2", "q2"],
            "prompt": ["2+2?", "2+2?", "Hi", "Hi"],
            "model": ["x", "y", "x", "y"],
            "output": ["4", "five", "Hello!", "..."],
            "reference": ["4", "4", None, None],
        }
    )
    frame.to_csv(tmp_path / "o.csv", index=False)
    frame.to_parquet(tmp_path / "o.parquet")
    loaded = [load_outputs([src]) for src in (tmp_path / "o.csv", tmp_path / "o.parquet", frame)]
    for data in loaded:
        assert data.models == ["x", "y"]
        assert data.items["q1"].reference == "4"
        assert data.items["q2"].reference is None
    assert loaded[0].digest() == loaded[1].digest() == loaded[2].digest()


def test_alpacaeval_model_outputs_json(tmp_path: Path) -> None:
    for gen, outs in {"m1": ["A1", "B1"], "m2": ["A2", "B2"]}.items():
        rows = [
            {"instruction": ins, "output": o, "generator": gen, "dataset": "helpful_base"}
            for ins, o in zip(["Say A", "Say B"], outs, strict=True)
        ]
        (tmp_path / f"{gen}.json").write_text(json.dumps(rows))
    data = load_outputs([tmp_path / "m1.json", tmp_path / "m2.json"])
    assert data.models == ["m1", "m2"]
    assert set(data.items) == {prompt_id_for("Say A"), prompt_id_for("Say B")}


def test_model_defaults_to_file_stem_and_bom_is_accepted(tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        body = json.dumps({"prompt_id": "1", "prompt": "Q", "output": name})
        (tmp_path / f"{name}.jsonl").write_bytes(b"\xef\xbb\xbf" + body.encode() + b"\n")
    data = load_outputs([tmp_path / "alpha.jsonl", tmp_path / "beta.jsonl"])
    assert data.models == ["alpha", "beta"]


def test_missing_column_names_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"prompt_id": "1", "prompt": "Q", "model": "m"}])
    with pytest.raises(InputError, match=r"a\.jsonl:1: missing column\(s\): output"):
        load_outputs([path])


def test_malformed_json_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"prompt": "Q", "output": "x", "model": "m"}\n{"prompt": "Q2", "out\n')
    with pytest.raises(InputError, match=r"a\.jsonl:2: malformed JSON"):
        load_outputs([path])


def test_duplicate_prompt_model_pair_names_both_places(tmp_path: Path) -> None:
    row = {"prompt_id": "1", "prompt": "Q", "model": "m", "output": "x"}
    path = write_jsonl(tmp_path / "a.jsonl", [row, {**row, "model": "n"}, row])
    with pytest.raises(InputError, match=r"a\.jsonl:3: duplicate .*first seen at .*a\.jsonl:1"):
        load_outputs([path])


def test_prompt_answered_by_one_model_is_skipped_and_counted(tmp_path: Path) -> None:
    rows = [
        {"prompt_id": "1", "prompt": "Q", "model": "m", "output": "x"},
        {"prompt_id": "1", "prompt": "Q", "model": "n", "output": "y"},
        {"prompt_id": "2", "prompt": "R", "model": "m", "output": "z"},
    ]
    data = load_outputs([write_jsonl(tmp_path / "a.jsonl", rows)])
    assert data.skipped_prompts == ["2"]
    assert list(data.items) == ["1"]


def test_nothing_to_compare_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "Q", "model": "m", "output": "x"}])
    with pytest.raises(InputError, match="at least two models"):
        load_outputs([path])


def test_conflicting_prompt_text_for_one_id(tmp_path: Path) -> None:
    rows = [
        {"prompt_id": "1", "prompt": "Q", "model": "m", "output": "x"},
        {"prompt_id": "1", "prompt": "Other", "model": "n", "output": "y"},
    ]
    with pytest.raises(InputError, match=r"a\.jsonl:2: prompt_id '1' has a different prompt"):
        load_outputs([write_jsonl(tmp_path / "a.jsonl", rows)])


def test_wrong_type_and_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"prompt": "Q", "model": "m", "output": 3}])
    with pytest.raises(InputError, match=r"a\.jsonl:1: column 'output' must be a string"):
        load_outputs([path])
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(InputError, match="unsupported file type .txt"):
        load_outputs([tmp_path / "b.txt"])
    with pytest.raises(InputError, match="nope.jsonl: file not found"):
        load_outputs([tmp_path / "nope.jsonl"])


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"prompt": "Q", "model": "m", "output": "x"}\n{"prompt": "\xff"}\n')
    with pytest.raises(InputError, match=r"a\.jsonl:2: not valid UTF-8"):
        load_outputs([path])
