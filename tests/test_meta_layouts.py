"""``judgekit meta`` reads the common human-label layouts: text pairs (JSONL, CSV, JSON),
LLMBar's JSON and the layouts it took before, each judged end to end by a scripted judge;
malformed files are refused with file:line errors before the store is touched."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.errors import InputError
from judgekit.inputs.human import load_human_labels
from judgekit.inputs.outputs import prompt_id_for
from judgekit.judges import registry
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.fakes import ScriptedJudge
from judgekit.store.db import open_store
from judgekit.types import JudgeRequest, JudgeResponse
from tests.conftest import write_jsonl

DATA = Path(__file__).parent / "data" / "formats"

# Four labelled pairs. The scripted judge always prefers the answer that says GOOD, in
# either order, so it never flips. The human agrees on pairs 1 and 2, prefers the GOOD
# answer's rival on pair 3, and calls pair 4 a tie (text pairs) or prefers GOOD (LLMBar,
# which has no ties).
PAIRS = [
    ("What is 2 + 2?", "GOOD: 4.", "BAD: 5.", "a"),
    ("Name a colour.", "BAD: a sound.", "GOOD: blue.", "b"),
    ("Capital of Italy?", "GOOD: Rome.", "BAD: Milan.", "b"),
    ("A prime below 5?", "BAD: 4.", "GOOD: 3.", "tie"),
]
LLMBAR_LABEL = {"a": 1, "b": 2, "tie": 2}
# Hand-computed against those labels. Text pairs: the judge matches 2 of 4 labels; leaving
# out the tie, 2 of 3. LLMBar: 3 of 4, none tied.
EXPECTED = {
    "text_pairs": {"accuracy (with ties)": 2 / 4, "accuracy (without ties)": 2 / 3},
    "llmbar": {"accuracy (with ties)": 3 / 4, "accuracy (without ties)": 3 / 4},
}


def _pick(request: JudgeRequest) -> str:
    text = "\n".join(m.content for m in request.messages)
    body = text.split("[Response A]", 1)[1]
    return "A" if body.find("GOOD:") < body.find("BAD:") else "B"


def _reply(request: JudgeRequest) -> JudgeResponse:
    text = "\n".join(m.content for m in request.messages)
    if "[Response A]" not in text:  # a rubric grade: 5 for the GOOD answer, 1 for the BAD one
        return JudgeResponse(text=f"Feedback: fine. [RESULT] {5 if 'GOOD:' in text else 1}")
    return JudgeResponse(text=f"Verdict: [[{_pick(request)}]]")


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> str:
    """``scripted/good`` resolves, through the registry, to the judge above."""

    def load(model: str, options: JudgeOptions) -> Judge:
        return ScriptedJudge(_reply, supports_logprobs=False, judge_id=f"scripted/{model}")

    monkeypatch.setitem(registry._PROVIDERS, "scripted", load)
    return "scripted/good"


def _text_pair_rows() -> list[dict[str, Any]]:
    return [{"prompt": p, "text_a": a, "text_b": b, "preferred": w} for p, a, b, w in PAIRS]


def _llmbar_rows() -> list[dict[str, Any]]:
    return [
        {"input": p, "output_1": a, "output_2": b, "label": LLMBAR_LABEL[w]} for p, a, b, w in PAIRS
    ]


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        return write_jsonl(path, rows)
    if path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


LAYOUT_FILES = {
    "text_pairs.jsonl": ("text_pairs", _text_pair_rows),
    "text_pairs.csv": ("text_pairs", _text_pair_rows),
    "text_pairs.json": ("text_pairs", _text_pair_rows),
    "llmbar.json": ("llmbar", _llmbar_rows),
}


def _invoke(*args: object) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _older_layout(layout: str, tmp_path: Path) -> tuple[Path, list[str]]:
    """PAIRS as two models' outputs (m1 answers text_a, m2 text_b) and the same labels in
    one of the layouts meta took before, with the prompt ids that layout implies."""
    winner = {"a": "m1", "b": "m2", "tie": "tie"}
    if layout == "alpaca_eval":
        rows = [
            {
                "instruction": p,
                "output_1": a,
                "output_2": b,
                "generator_1": "m1",
                "generator_2": "m2",
                "annotator": "crowd",
                "preference": {"a": 1, "b": 2, "tie": 1.5}[w],
            }
            for p, a, b, w in PAIRS
        ]
        return _write(tmp_path / "annotations.json", rows), [prompt_id_for(p[0]) for p in PAIRS]
    if layout == "scores":
        ids = [f"s{i}" for i in range(len(PAIRS))]
        rows = [
            {"prompt_id": pid, "model": model, "score": 9 if text.startswith("GOOD") else 2}
            for pid, (_, a, b, _) in zip(ids, PAIRS, strict=True)
            for model, text in (("m1", a), ("m2", b))
        ]
        return _write(tmp_path / "scores.jsonl", rows), ids
    ids = {
        "pairs": [f"q{i}" for i in range(len(PAIRS))],
        "mtbench": [str(81 + i) for i in range(len(PAIRS))],
        "arena": [f"ab{i}" for i in range(len(PAIRS))],
    }[layout]
    rows = []
    for pid, (_, _, _, w) in zip(ids, PAIRS, strict=True):
        if layout == "pairs":
            rows.append({"prompt_id": pid, "model_a": "m1", "model_b": "m2", "winner": winner[w]})
        else:
            vote = {"a": "model_a", "b": "model_b", "tie": "tie"}[w]
            qid: Any = int(pid) if layout == "mtbench" else pid
            rows.append(
                {
                    "question_id": qid,
                    "model_a": "m1",
                    "model_b": "m2",
                    "winner": vote,
                    "judge": "expert_1",
                    "turn": 1,
                }
            )
    suffix = "jsonl" if layout != "arena" else "json"
    return _write(tmp_path / f"{layout}.{suffix}", rows), ids


@pytest.mark.parametrize("layout", ["pairs", "mtbench", "arena", "alpaca_eval", "scores"])
def test_each_older_layout_round_trips_through_meta(
    layout: str, scripted: str, tmp_path: Path
) -> None:
    labels_file, ids = _older_layout(layout, tmp_path)
    assert load_human_labels(labels_file).layout == layout
    outputs = [
        write_jsonl(
            tmp_path / f"{model}.jsonl",
            [
                {"prompt_id": pid, "prompt": pair[0], "model": model, "output": pair[side]}
                for pid, pair in zip(ids, PAIRS, strict=True)
            ],
        )
        for model, side in (("m1", 1), ("m2", 2))
    ]
    db = tmp_path / "m.duckdb"
    judged = ["compare", *outputs, "--bootstrap", "0"]
    if layout == "scores":
        judged = ["grade", *outputs, "--rubric", "helpfulness", "--bootstrap", "0"]
    done = _invoke(*judged, "--judge", scripted, "--db", db, "--no-progress")
    assert done.exit_code == 0, done.output

    result = _invoke("meta", "--db", db, "--human", labels_file, "--json")
    assert result.exit_code == 0, result.output
    values = {m["metric"]: m["value"] for m in json.loads(result.stdout)["metrics"]}
    if layout == "scores":
        # The judge's 5/1 and the humans' 9/2 rise and fall together.
        assert values["score Pearson"] == pytest.approx(1.0)
        return
    for metric, value in EXPECTED["text_pairs"].items():
        assert values[metric] == pytest.approx(value), metric
    assert values["position flip rate"] == 0.0


@pytest.mark.parametrize("name", list(LAYOUT_FILES))
def test_each_text_layout_round_trips_through_meta(
    name: str, scripted: str, tmp_path: Path
) -> None:
    layout, rows = LAYOUT_FILES[name]
    labels_file = _write(tmp_path / name, rows())
    loaded = load_human_labels(labels_file)
    assert loaded.layout == layout and len(loaded.pairs) == 4
    assert loaded.outputs is not None and len(loaded.outputs) == 8

    db = tmp_path / "m.duckdb"
    args = ["meta", "--judges", scripted, "--human", labels_file, "--db", db]
    result = _invoke(*args, "--json", "--no-progress")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["judge"] == scripted
    assert row["position flip rate"] == 0.0
    for metric, value in EXPECTED[layout].items():
        assert row[metric] == pytest.approx(value), metric

    # The run stored the pairs as two pseudo-models, and the same file reads back against it.
    with open_store(db, read_only=True) as store, store.connect() as con:
        models = {r[0] for r in con.execute("SELECT DISTINCT model FROM candidates").fetchall()}
    assert models == set(loaded.pairs[["model_a", "model_b"]].iloc[0])
    again = _invoke("meta", "--db", db, "--run", row["run_id"], "--human", labels_file, "--json")
    assert again.exit_code == 0, again.output
    values = {m["metric"]: m["value"] for m in json.loads(again.stdout)["metrics"]}
    for metric, value in EXPECTED[layout].items():
        assert values[metric] == pytest.approx(value), metric

    table = _invoke(*args, "--no-progress")
    assert table.exit_code == 0 and "Judges compared" in table.stdout


def test_text_labels_need_a_judge_and_no_outputs(
    scripted: str, tmp_path: Path, arena_files: list[Path]
) -> None:
    labels_file = _write(tmp_path / "pairs.jsonl", _text_pair_rows())
    db = tmp_path / "m.duckdb"
    both = _invoke("meta", "--judges", scripted, "--human", labels_file, "--db", db, *arena_files)
    assert both.exit_code == 2 and "give no OUTPUTS" in both.output
    alone = _invoke("meta", "--human", labels_file, "--db", db)
    assert alone.exit_code == 2 and "--judges" in alone.output
    assert not db.exists()


def test_the_older_layouts_are_still_told_apart(tmp_path: Path) -> None:
    pairs = write_jsonl(
        tmp_path / "pairs.jsonl",
        [{"prompt_id": "p1", "model_a": "x", "model_b": "y", "winner": "model_a"}],
    )
    scores = write_jsonl(tmp_path / "scores.jsonl", [{"prompt_id": "p1", "model": "x", "score": 3}])
    arena = tmp_path / "arena.json"
    arena.write_text(
        json.dumps(
            [
                {
                    "question_id": "ab12",
                    "model_a": "x",
                    "model_b": "y",
                    "winner": "model_b",
                    "judge": "arena_user_1",
                    "turn": 1,
                    "conversation_a": [{"role": "user", "content": "hi"}],
                    "conversation_b": [{"role": "user", "content": "hi"}],
                }
            ]
        )
    )
    found = {
        "pairs": pairs,
        "scores": scores,
        "mtbench": DATA / "mtbench" / "human_judgments.json",
        "arena": arena,
        "alpaca_eval": DATA / "alpaca_eval" / "annotations.json",
    }
    for layout, path in found.items():
        labels = load_human_labels(path)
        assert labels.layout == layout, path
        assert labels.outputs is None
        assert not labels.empty


# -- malformed text-pair files (more cases in tests/fixtures/bad_inputs/labels) -------------


PAIR = {"prompt": "q", "text_a": "x", "text_b": "y", "preferred": "a"}
BAR = {"input": "q", "output_1": "x", "output_2": "y", "label": 1}


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        ([{"prompt": "q", "text_a": "x", "preferred": "a"}], 1, "missing column 'text_b'"),
        ([PAIR, {"prompt": "q", "text_a": "x", "preferred": "a"}], 2, "missing column 'text_b'"),
        ([BAR, {**BAR, "label": 3}], 2, "label is 3; expected 1 (output_1"),
        ([BAR, {**BAR, "label": True}], 2, "label is True"),
        ([BAR, BAR, {**BAR, "label": None}], 3, "label is missing"),
        ([PAIR, {**PAIR, "text_a": " "}], 2, "missing or empty 'text_a'"),
        ([PAIR, {**PAIR, "preferred": "c"}], 2, "preferred is 'c'; expected a, b or tie"),
        ([PAIR, {**PAIR, "text_b": 7}], 2, "'text_b' must be text, got int"),
        ([{**PAIR, "prompt_id": "q1"}, {**PAIR, "prompt_id": "q1"}], 2, "already used on line 1"),
        ([{"id": 1, "text": "hello"}], 1, "columns found (id, text)"),
    ],
)
def test_malformed_text_labels_name_file_and_line(
    rows: list[dict[str, Any]], line: int, message: str, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "labels.jsonl", rows)
    with pytest.raises(InputError) as info:
        load_human_labels(path)
    assert message in str(info.value)
    assert info.value.path == str(path) and info.value.line == line


def test_a_forced_layout_names_the_columns_it_needs(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [PAIR])
    with pytest.raises(InputError) as info:
        load_human_labels(path, format="llmbar")
    assert str(info.value) == (
        f"{path}:1: missing columns 'input', 'output_1', 'output_2', 'label'; the llmbar "
        "layout needs input, output_1, output_2, label (columns found: preferred, prompt, "
        "text_a, text_b)"
    )


def test_a_bad_row_after_good_ones_is_caught_on_its_line(tmp_path: Path) -> None:
    rows = _llmbar_rows()
    rows[2]["output_2"] = ""
    path = tmp_path / "llmbar.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"llmbar\.json:3: missing or empty 'output_2'"):
        load_human_labels(path)


def test_the_unknown_layout_error_lists_every_accepted_layout(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(InputError) as info:
        load_human_labels(path)
    text = str(info.value)
    for columns in (
        "prompt, text_a, text_b, preferred",
        "input, output_1, output_2, label",
        "prompt_id, model_a, model_b, winner",
        "columns found (answer, question)",
    ):
        assert columns in text
