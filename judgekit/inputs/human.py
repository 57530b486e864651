"""Human labels: load them, and join them to a run's judged comparisons.

The simple format is a JSONL, JSON, CSV or Parquet file with one label per row:

- **pairwise labels**: ``prompt_id``, ``model_a``, ``model_b``, ``winner`` and optionally
  ``annotator`` (or ``judge``) and ``weight``. ``winner`` is ``model_a``, ``model_b``,
  ``tie``, ``tie (bothbad)``, ``both_bad``, or the name of one of the two models::

      {"prompt_id": "p1", "model_a": "gpt-4", "model_b": "llama-2", "winner": "model_a"}

- **scores**: ``prompt_id``, ``model``, ``score`` and optionally ``annotator``.

Peer files are read as they are: MT-Bench human judgments (``question_id``, ``turn``,
``judge``, ``winner`` ...), Chatbot Arena battles (human votes) and AlpacaEval annotations
(``preference`` 1-2; 1.5 or 0 is a draw). Labels match a comparison by
``(prompt_id, {model_a, model_b})`` whichever way round either side names the models.

Labels that carry their own texts (``prompt, text_a, text_b, preferred`` rows, or LLMBar's
``input, output_1, output_2, label``) come with the outputs to judge; see
:mod:`judgekit.inputs.text_labels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.labels import (
    HUMAN_LABEL_COLUMNS,
    HUMAN_SCORE_COLUMNS,
    WINNER_SPELLINGS,
    normalise_winner,
)
from judgekit.inputs.tabular import is_missing, read_rows
from judgekit.inputs.text_labels import (
    TEXT_LAYOUTS,
    detect_text_layout,
    nearly_text_layout,
    text_labels_from_rows,
)

LabelFormat = Literal[
    "auto", "pairs", "scores", "mtbench", "arena", "alpaca_eval", "text_pairs", "llmbar"
]
LABEL_FORMATS = (
    "auto",
    "pairs",
    "scores",
    "mtbench",
    "arena",
    "alpaca_eval",
    "text_pairs",
    "llmbar",
)
#: The columns each layout needs, as the error for a file of unknown layout lists them.
ACCEPTED_LAYOUTS = (
    "prompt_id, model_a, model_b, winner (pairwise labels)",
    "prompt_id, model, score (scores)",
    "prompt, text_a, text_b, preferred (text pairs; preferred is a, b or tie)",
    "input, output_1, output_2, label (LLMBar; label is 1 or 2)",
    "question_id, model_a, model_b, winner, turn (MT-Bench human judgments)",
    "question_id, model_a, model_b, winner (Chatbot Arena battles)",
    "instruction, output_1, output_2, generator_1, generator_2, preference (AlpacaEval)",
)
_TO_LABEL = {"model_a": "a", "model_b": "b", "tie": "tie"}


@dataclass(frozen=True)
class HumanLabels:
    """Human pairwise labels and/or human scores, with where they came from."""

    pairs: pd.DataFrame
    """:data:`HUMAN_LABEL_COLUMNS`; winner is ``model_a``, ``model_b`` or ``tie``."""
    scores: pd.DataFrame
    """:data:`HUMAN_SCORE_COLUMNS`."""
    source: str = ""
    outputs: pd.DataFrame | None = None
    """For labels that carry their own texts: prompt_id, prompt, model, output, the
    answers to judge (two pseudo-models named after the text columns); else None."""
    layout: str = ""
    """The layout the labels were read as (``pairs``, ``llmbar`` ...); empty if unknown."""

    @property
    def empty(self) -> bool:
        return bool(self.pairs.empty and self.scores.empty)


def empty_pairs() -> pd.DataFrame:
    return pd.DataFrame(columns=HUMAN_LABEL_COLUMNS)


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame(columns=HUMAN_SCORE_COLUMNS)


def _sniff(row: dict[str, Any], *, path: Path, line: int) -> str:
    """The label format a first row looks like (see :func:`load_human_labels`)."""
    text = detect_text_layout(row)
    if text is not None:
        return text.name
    if "preference" in row and "generator_1" in row:
        return "alpaca_eval"
    if "prompt_id" in row and "score" in row and "model" in row:
        return "scores"
    if "prompt_id" in row and {"model_a", "model_b", "winner"} & set(row):
        return "pairs"
    if "question_id" in row and "winner" in row:
        qid, turn = row.get("question_id"), row.get("turn")
        # MT-Bench ids are the integers 81-160 and turn says which turn was judged; Chatbot
        # Arena ids are hex strings and turn counts the conversation's turns.
        numeric = isinstance(qid, int) or (isinstance(qid, str) and qid.isdigit())
        return "mtbench" if numeric and turn in (1, 2, "1", "2") else "arena"
    found = ", ".join(sorted(row)) or "none"
    nearly = nearly_text_layout(row)
    if nearly is not None:
        layout, missing = nearly
        raise InputError(
            f"missing column {missing[0]!r} for the {layout.describe()} layout "
            f"(columns found: {found})",
            path=str(path),
            line=line,
        )
    if "prompt_id" in row:
        return "pairs"  # names the missing pairwise fields
    raise InputError(
        f"cannot tell the label format from the columns found ({found}); the accepted "
        f"layouts are: {'; '.join(ACCEPTED_LAYOUTS)}; or name the format (--human-format)",
        path=str(path),
        line=line,
    )


def load_human_labels(path: str | Path, *, format: LabelFormat = "auto") -> HumanLabels:
    """Read human labels from a file.

    Args:
        path: a JSONL, JSON, CSV or Parquet file.
        format: ``pairs`` or ``scores`` (the simple format above), ``mtbench`` (MT-Bench
            human judgments), ``arena`` (Chatbot Arena battles), ``alpaca_eval``
            (annotations), ``text_pairs`` or ``llmbar`` (labels with their own texts, see
            :mod:`judgekit.inputs.text_labels`) or ``auto``, which tells them apart by the
            first row's fields.

    Raises:
        InputError: the file is malformed, a field is missing or a winner is unknown; the
            message names the file and line.
    """
    p = Path(path)
    rows = list(read_rows(p))
    if not rows:
        raise InputError("no labels in the file", path=str(p))
    kind = _sniff(rows[0][1], path=p, line=rows[0][0]) if format == "auto" else format
    if kind in TEXT_LAYOUTS:
        text = text_labels_from_rows(rows, layout=TEXT_LAYOUTS[kind], path=p)
        return HumanLabels(text.pairs, empty_scores(), str(p), outputs=text.outputs, layout=kind)
    if kind == "pairs":
        return HumanLabels(_pairs_from_rows(rows, path=p), empty_scores(), str(p), layout=kind)
    if kind == "scores":
        return HumanLabels(empty_pairs(), _scores_from_rows(rows, path=p), str(p), layout=kind)
    if kind == "mtbench":
        from judgekit.inputs.formats.mtbench import read_mtbench_human_judgments

        pairs = read_mtbench_human_judgments(p)[HUMAN_LABEL_COLUMNS]
    elif kind == "arena":
        from judgekit.inputs.formats.chatbot_arena import read_battles

        battles = read_battles(p)
        pairs = battles.rename(columns={"judge": "annotator"})
        pairs["winner"] = pairs["winner"].map(WINNER_SPELLINGS)
        pairs = pairs[HUMAN_LABEL_COLUMNS]
    elif kind == "alpaca_eval":
        from judgekit.inputs.formats import outcome_winner
        from judgekit.inputs.formats.alpaca_eval import read_alpaca_eval_annotations

        annotations = read_alpaca_eval_annotations(p)
        annotations = annotations[annotations["status"] == "ok"]
        pairs = annotations.assign(
            winner=outcome_winner(annotations), annotator=annotations["judge"]
        )[HUMAN_LABEL_COLUMNS]
    else:
        raise InputError(f"unknown label format {kind!r}; use one of {', '.join(LABEL_FORMATS)}")
    return HumanLabels(pairs.reset_index(drop=True), empty_scores(), str(p), layout=kind)


def _pairs_from_rows(rows: list[tuple[int, dict[str, Any]]], *, path: Path) -> pd.DataFrame:
    out = []
    for line, row in rows:
        missing = [
            k for k in ("prompt_id", "model_a", "model_b", "winner") if is_missing(row.get(k))
        ]
        if missing:
            raise InputError(
                f"missing field(s) {', '.join(missing)} for a pairwise label",
                path=str(path),
                line=line,
            )
        model_a, model_b = str(row["model_a"]).strip(), str(row["model_b"]).strip()
        if model_a == model_b:
            raise InputError(f"a model cannot face itself ({model_a!r})", path=str(path), line=line)
        weight = row.get("weight", 1.0)
        try:
            weight = 1.0 if is_missing(weight) else float(weight)
        except (TypeError, ValueError):
            raise InputError(
                f"weight {weight!r} is not a number", path=str(path), line=line
            ) from None
        if weight < 0 or not np.isfinite(weight):
            raise InputError(f"weight {weight!r} must be >= 0", path=str(path), line=line)
        annotator = row.get("annotator", row.get("judge"))
        out.append(
            {
                "prompt_id": _id(row["prompt_id"]),
                "model_a": model_a,
                "model_b": model_b,
                "winner": normalise_winner(
                    row["winner"], model_a=model_a, model_b=model_b, path=path, line=line
                ),
                "annotator": "" if is_missing(annotator) else str(annotator),
                "weight": weight,
            }
        )
    return pd.DataFrame(out, columns=HUMAN_LABEL_COLUMNS)


def _scores_from_rows(rows: list[tuple[int, dict[str, Any]]], *, path: Path) -> pd.DataFrame:
    out = []
    for line, row in rows:
        missing = [k for k in ("prompt_id", "model", "score") if is_missing(row.get(k))]
        if missing:
            raise InputError(
                f"missing field(s) {', '.join(missing)} for a score", path=str(path), line=line
            )
        try:
            score = float(row["score"])
        except (TypeError, ValueError):
            raise InputError(
                f"score {row['score']!r} is not a number", path=str(path), line=line
            ) from None
        if not np.isfinite(score):
            # float() reads "NaN" and "inf"; neither is a score a human gave.
            raise InputError(
                f"score {row['score']!r} must be a finite number", path=str(path), line=line
            )
        annotator = row.get("annotator", row.get("judge"))
        out.append(
            {
                "prompt_id": _id(row["prompt_id"]),
                "model": str(row["model"]).strip(),
                "score": score,
                "annotator": "" if is_missing(annotator) else str(annotator),
            }
        )
    return pd.DataFrame(out, columns=HUMAN_SCORE_COLUMNS)


def _id(value: Any) -> str:
    # CSV readers and JSON writers turn "81" into 81 or 81.0; ids compare as text.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def join_labels(comparisons: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Match human labels to comparisons by ``(prompt_id, {model_a, model_b})``.

    A label that names the models the other way round is turned around. Each label row is
    one match, so a comparison with three human votes appears three times (as MT-Bench
    counts agreement per vote).

    Returns:
        The comparisons' columns plus ``human`` (``a``, ``b`` or ``tie`` in the comparison's
        orientation), ``annotator`` and ``weight``; comparisons without labels are dropped.
    """
    keys = ["prompt_id", "model_a", "model_b"]
    lab = pairs[[*keys, "winner", "annotator", "weight"]].copy()
    lab["prompt_id"] = lab["prompt_id"].map(_id)
    lab["human"] = lab["winner"].map(_TO_LABEL)
    swapped = lab.rename(columns={"model_a": "model_b", "model_b": "model_a"})
    swapped["human"] = swapped["human"].map({"a": "b", "b": "a", "tie": "tie"})
    # Each label matches in one orientation only (a model never faces itself), so stacking
    # both orientations counts every label exactly once.
    both = pd.concat([lab, swapped], ignore_index=True).drop(columns="winner")
    base = comparisons.drop(
        columns=[c for c in ("annotator", "weight", "human") if c in comparisons]
    )
    base = base.assign(prompt_id=base["prompt_id"].map(_id))
    return base.merge(both, on=keys, how="inner")


def join_scores(judge_scores: pd.DataFrame, human_scores: pd.DataFrame) -> pd.DataFrame:
    """Pair a judge's scores with the mean human score per ``(prompt_id, model)``.

    Returns prompt_id, model, judge (the judge's score) and human (the annotators' mean).
    """
    human = (
        human_scores.assign(prompt_id=human_scores["prompt_id"].map(_id))
        .groupby(["prompt_id", "model"], as_index=False)["score"]
        .mean()
        .rename(columns={"score": "human"})
    )
    judged = judge_scores.assign(prompt_id=judge_scores["prompt_id"].map(_id)).rename(
        columns={"score": "judge"}
    )
    return judged[["prompt_id", "model", "judge"]].merge(human, on=["prompt_id", "model"])
