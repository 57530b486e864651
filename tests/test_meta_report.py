"""The judge-quality report of stored runs, with scripted biased judges and human labels."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import judgekit
from judgekit.inputs.human import HumanLabels, empty_pairs, load_human_labels
from judgekit.judges.fakes import FixedJudge, ScriptedJudge
from judgekit.quality.report import (
    comparison_table,
    judge_report,
    report_from_frames,
    stored_report,
)
from judgekit.store import meta_queries as mq
from judgekit.store.db import open_store
from judgekit.types import JudgeRequest
from tests.conftest import write_jsonl

_RESPONSE = re.compile(
    r"<<<BEGIN RESPONSE (?P<pos>[AB]) (?P<tag>\w+)>>>\n(?P<text>.*?)\n"
    r"<<<END RESPONSE (?P=pos) (?P=tag)>>>",
    re.DOTALL,
)


def responses(request: JudgeRequest) -> dict[str, str]:
    """The two fenced answers of a pairwise request, by position."""
    text = request.messages[-1].content
    return {m["pos"]: m["text"] for m in _RESPONSE.finditer(text)}


def always_longer(request: JudgeRequest) -> str:
    shown = responses(request)
    return "[[A]]" if len(shown["A"]) > len(shown["B"]) else "[[B]]"


def own_model_judge(own_outputs: set[str]) -> ScriptedJudge:
    """Prefers whichever answer its own model wrote; otherwise calls a tie."""

    def reply(request: JudgeRequest) -> str:
        shown = responses(request)
        for position in ("A", "B"):
            if shown[position] in own_outputs:
                return f"[[{position}]]"
        return "[[C]]"

    return ScriptedJudge(reply, judge_id="scripted/good")


#: Human labels over the conftest arena (models bad < good < okay, prompts p1-p3); some name
#: the models the other way round from the run's comparisons.
LABELS = [
    ("p1", "good", "okay", "model_a"),
    ("p1", "good", "bad", "model_a"),
    ("p1", "okay", "bad", "model_a"),
    ("p2", "okay", "good", "model_a"),
    ("p2", "good", "bad", "good"),
    ("p2", "bad", "okay", "tie"),
    ("p3", "good", "okay", "tie"),
    ("p3", "bad", "good", "model_a"),
    ("p3", "okay", "bad", "okay"),
]


@pytest.fixture
def labels_file(tmp_path: Path) -> Path:
    rows = [
        {"prompt_id": p, "model_a": a, "model_b": b, "winner": w, "annotator": "h1"}
        for p, a, b, w in LABELS
    ]
    return write_jsonl(tmp_path / "labels.jsonl", rows)


def _report(db: Path, run_id: str, **kwargs: object) -> pd.Series:
    with open_store(db) as store:
        report = judge_report(store, run_id=run_id, **kwargs)  # type: ignore[arg-type]
    return report.metrics.set_index("metric")["value"]


def test_always_longer_judge_prefers_longer_every_time(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "j.duckdb"
    judge = ScriptedJudge(always_longer, judge_id="scripted/longer")
    run = judgekit.compare(arena_files, judge=judge, db=db, bootstrap=0)
    values = _report(db, run.run_id)
    assert values["P(prefer longer)"] == 1.0
    assert values["position flip rate"] == 0.0  # consistent in both orders
    # AlpacaEval's cross-validated L1 fit shrinks the slope on a run this small, but the
    # sign says the judge rewards length.
    assert values["length coefficient"] > 0.3
    assert values["parse-failure rate"] == 0.0


def test_always_position_a_judge_flips_every_comparison(
    arena_files: list[Path], tmp_path: Path, labels_file: Path
) -> None:
    db = tmp_path / "j.duckdb"
    run = judgekit.compare(arena_files, judge=FixedJudge("A"), db=db, bootstrap=0)
    values = _report(db, run.run_id, human=load_human_labels(labels_file))
    assert values["position flip rate"] == 1.0
    assert values["first-position preference"] == 1.0
    # Averaging the orders leaves every comparison a tie: it agrees with the 2 human ties,
    # and without ties there is nothing left to compare.
    assert values["accuracy (with ties)"] == pytest.approx(2 / 9)
    assert pd.isna(values["accuracy (without ties)"])
    # Each single order picks model_a (ab) or model_b (ba): 2 and 5 human votes of 9.
    assert values["accuracy, first order only (ab)"] == pytest.approx(2 / 9)
    assert values["accuracy, second order only (ba)"] == pytest.approx(5 / 9)


def test_own_model_judge_self_preference_and_agreement_by_hand(
    arena_files: list[Path], tmp_path: Path, labels_file: Path
) -> None:
    own = {"The capital of France is Paris.", "11 is a prime number larger than 10."}
    own.add("Keep a regular sleep schedule, even on weekends.")
    db = tmp_path / "j.duckdb"
    run = judgekit.compare(arena_files, judge=own_model_judge(own), db=db, bootstrap=0)
    # The judge id scripted/good names the candidate "good", so self-preference is measured.
    values = _report(db, run.run_id)
    assert values["self-preference rate"] == 1.0
    assert "self-preference DBG" not in values  # no gold labels yet
    values = _report(db, run.run_id, human=load_human_labels(labels_file))
    # Judge: good beats both rivals, bad-okay a tie. Human (see LABELS): 4 of 9 agree, 3 of
    # 5 without ties; kappa = (4/9 - 1/3) / (1 - 1/3) = 1/6.
    assert values["accuracy (with ties)"] == pytest.approx(4 / 9)
    assert values["accuracy (without ties)"] == pytest.approx(3 / 5)
    assert values["Cohen's kappa"] == pytest.approx(1 / 6)
    # Gold score of "good" in its 6 comparisons: 1, 1, 1, 0, 0, 0.5 -> 7/12; DBG = 1 - 7/12.
    assert values["self-preference DBG"] == pytest.approx(5 / 12)
    # The report and the labels are stored with the run; a later report reuses the labels.
    with open_store(db) as store:
        stored = stored_report(store, run_id=run.run_id)
        assert stored is not None and stored.value("Cohen's kappa") == pytest.approx(1 / 6)
        assert len(mq.human_labels(store, run_id=run.run_id).pairs) == 9
    assert _report(db, run.run_id)["self-preference DBG"] == pytest.approx(5 / 12)


def test_human_scores_correlate_with_a_grade_run_only(
    arena_files: list[Path], tmp_path: Path
) -> None:
    db = tmp_path / "j.duckdb"
    run = judgekit.compare(arena_files, judge=FixedJudge("A"), db=db, bootstrap=0)
    scores = pd.DataFrame({"prompt_id": ["p1"], "model": ["good"], "score": [5.0], "annotator": ""})
    labels = HumanLabels(empty_pairs(), scores, "scores.jsonl")
    with open_store(db) as store:
        report = judge_report(store, run_id=run.run_id, human=labels, save=False)
    assert any("no pointwise scores" in note for note in report.notes)


def test_comparison_table_lines_up_judges(arena_files: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "j.duckdb"
    reports = {}
    for judge in (FixedJudge("A"), ScriptedJudge(always_longer, judge_id="scripted/longer")):
        run = judgekit.compare(arena_files, judge=judge, db=db, bootstrap=0)
        with open_store(db) as store:
            reports[judge.id] = judge_report(store, run_id=run.run_id)
    table = comparison_table(reports).set_index("judge")
    assert table.loc["fake/always-a", "position flip rate"] == 1.0
    assert table.loc["scripted/longer", "P(prefer longer)"] == 1.0
    assert "accuracy (with ties)" not in table.columns  # no labels: the column is left out


def test_score_correlations_against_human_scores() -> None:
    comparisons = pd.DataFrame(
        columns=["prompt_id", "model_a", "model_b", "win_a", "win_b", "tie", "flipped", "status"]
    )
    judge_scores = pd.DataFrame(
        {"prompt_id": ["p1", "p1", "p2", "p2"], "model": ["x", "y"] * 2, "score": [1, 2, 3, 4.0]}
    )
    human_scores = pd.DataFrame(
        {
            "prompt_id": ["p1", "p1", "p1", "p2", "p2"],
            "model": ["x", "x", "y", "x", "y"],
            "score": [1.0, 3.0, 4.0, 5.0, 9.0],  # x on p1 averages 2
            "annotator": ["a", "b", "a", "a", "a"],
        }
    )
    report = report_from_frames(
        comparisons, human=HumanLabels(empty_pairs(), human_scores), judge_scores=judge_scores
    )
    values = report.metrics.set_index("metric")
    assert values.loc["score Spearman", "value"] == pytest.approx(1.0)
    assert values.loc["score Kendall", "value"] == pytest.approx(1.0)
    assert values.loc["score Pearson", "value"] == pytest.approx(
        np.corrcoef([1, 2, 3, 4], [2, 4, 5, 9])[0, 1]
    )
    assert values.loc["score Pearson", "n"] == 4
