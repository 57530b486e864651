"""Agreement within a judge panel: each member's outcome per comparison, and Krippendorff's α.

The panel run (:mod:`judgekit.runs.panel`) pools these outcomes into one verdict; the
judge-quality report (:mod:`judgekit.quality.report`) shows how far the members agree.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from judgekit.inputs.labels import outcome_labels
from judgekit.quality.agreement import krippendorff_alpha

#: The columns that name one comparison.
KEYS = ["prompt_id", "model_a", "model_b"]


def per_judge_outcomes(members: pd.DataFrame) -> pd.DataFrame:
    """Each judge's outcome per comparison: the mean over its usable samples."""
    ok = members[members["status"] == "ok"]
    return ok.groupby([*KEYS, "judge_id"], as_index=False, sort=True).agg(
        win_a=("win_a", "mean"),
        win_b=("win_b", "mean"),
        tie=("tie", "mean"),
        flipped=("flipped", "mean"),
    )


def outcome_probs(frame: pd.DataFrame) -> tuple[Any, Any, Any]:
    return frame["win_a"], frame["win_b"], frame["tie"]


def panel_alpha(members: pd.DataFrame) -> float:
    """Krippendorff's α (nominal) of the judges' labels, one unit per comparison."""
    per_judge = per_judge_outcomes(members)
    if per_judge["judge_id"].nunique() < 2:
        return float("nan")
    labelled = per_judge.assign(label=outcome_labels(*outcome_probs(per_judge)))
    wide = labelled.pivot_table(index=KEYS, columns="judge_id", values="label", aggfunc="first")
    return krippendorff_alpha(wide.to_numpy(dtype=object), level="nominal")
