"""Human labels: the simple format, peer files, validation with file:line, and the join."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from judgekit.errors import InputError
from judgekit.inputs.human import join_labels, join_scores, load_human_labels
from tests.conftest import write_jsonl

DATA = Path(__file__).parent / "data" / "formats"


def test_simple_pairwise_labels_accept_model_names_and_weights(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "prompt_id,model_a,model_b,winner,annotator,weight\n"
        "81,gpt-4,llama,gpt-4,ann1,2\n"
        "81,gpt-4,llama,tie (bothbad),ann2,\n"
        "82,llama,gpt-4,model_b,,1\n"
    )
    pairs = load_human_labels(path).pairs
    assert list(pairs["winner"]) == ["model_a", "tie", "model_b"]
    assert list(pairs["weight"]) == [2.0, 1.0, 1.0] and list(pairs["prompt_id"]) == ["81"] * 2 + [
        "82"
    ]


def test_scores_format_is_recognised(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "scores.jsonl",
        [
            {"prompt_id": "p1", "model": "x", "score": 7},
            {"prompt_id": "p1", "model": "x", "score": 9},
        ],
    )
    labels = load_human_labels(path)
    assert labels.pairs.empty and list(labels.scores["score"]) == [7.0, 9.0]
    judged = pd.DataFrame({"prompt_id": ["p1"], "model": ["x"], "score": [0.5]})
    assert join_scores(judged, labels.scores).iloc[0].to_dict() == {
        "prompt_id": "p1",
        "model": "x",
        "judge": 0.5,
        "human": 8.0,
    }


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"model_a": "x", "winner": "model_a"}, "missing field.*model_b"),
        ({"model_a": "x", "model_b": "y", "winner": "z"}, "unknown winner 'z'"),
        ({"model_a": "x", "model_b": "x", "winner": "tie"}, "cannot face itself"),
        ({"model_a": "x", "model_b": "y", "winner": "tie", "weight": -1}, "must be >= 0"),
    ],
)
def test_bad_labels_name_file_and_line(
    tmp_path: Path, row: dict[str, object], message: str
) -> None:
    good = {"prompt_id": "p1", "model_a": "x", "model_b": "y", "winner": "model_a"}
    path = write_jsonl(tmp_path / "labels.jsonl", [good, {"prompt_id": "p2", **row}])
    with pytest.raises(InputError, match=message) as info:
        load_human_labels(path, format="pairs")
    assert info.value.path == str(path) and info.value.line == 2


def test_unknown_label_files_ask_for_the_format(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"id": 1, "text": "hello"}])
    with pytest.raises(InputError, match=r"x\.jsonl:1: cannot tell the label format"):
        load_human_labels(path)


def test_alpaca_eval_annotations_as_human_labels() -> None:
    pairs = load_human_labels(DATA / "alpaca_eval" / "annotations.json").pairs
    # The failed annotation (null preference) is left out; 1.9632 and 2 -> output_2 wins.
    assert list(pairs["winner"]) == ["model_b", "model_b", "model_a", "tie"]
    assert set(pairs["annotator"]) == {"weighted_alpaca_eval_gpt4_turbo"}


def test_join_counts_every_vote_and_turns_reversed_labels_around() -> None:
    comparisons = pd.DataFrame(
        {
            "prompt_id": ["p1", "p2"],
            "model_a": ["x", "x"],
            "model_b": ["y", "y"],
            "win_a": [1.0, 0.0],
            "win_b": [0.0, 1.0],
            "tie": [0.0, 0.0],
        }
    )
    votes = pd.DataFrame(
        {
            "prompt_id": ["p1", "p1", "p1", "p2", "p3"],
            "model_a": ["x", "x", "x", "y", "x"],
            "model_b": ["y", "y", "y", "x", "y"],
            "winner": ["model_a", "model_a", "model_a", "model_a", "tie"],
            "annotator": ["", "", "", "", ""],
            "weight": [1.0] * 5,
        }
    )
    joined = join_labels(comparisons, votes)
    # Three identical anonymous votes on p1 are three votes; p2's label names y first, so
    # "model_a" there means y, which is model_b of the comparison; p3 was not judged.
    assert list(joined["prompt_id"]) == ["p1", "p1", "p1", "p2"]
    assert list(joined["human"]) == ["a", "a", "a", "b"]
