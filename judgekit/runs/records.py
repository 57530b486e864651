"""The rows and result objects that every judged run writes and returns.

Input tables (items, candidates), per-order verdict rows, outcomes combined from both
orders, deterministic run ids and run summaries, and :class:`CompareResult`. The pairwise,
listwise, adaptive, sorting, panel and arena runs all build on these, so they live below
each of those runs rather than inside one of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from judgekit.errors import ConfigError
from judgekit.inputs.human import HumanLabels, join_labels, load_human_labels
from judgekit.inputs.outputs import OutputSet, load_outputs
from judgekit.protocols.debias import combine_orders
from judgekit.protocols.pairwise import PlannedCall
from judgekit.quality.trust import TrustReport, joined_label_figures
from judgekit.runs.options import CompareOptions
from judgekit.runs.runner import ExecutionStats
from judgekit.runs.turns import turn_rows
from judgekit.store.db import Store
from judgekit.store.meta_queries import write_human_labels
from judgekit.store.trust_queries import write_trust
from judgekit.types import Outcome, Verdict

log = logging.getLogger("judgekit")

OutputsArg = str | Path | pd.DataFrame | Sequence[str | Path | pd.DataFrame]


@dataclass
class CompareResult:
    """What :func:`compare` returns."""

    run_id: str
    leaderboard: pd.DataFrame
    outcomes: pd.DataFrame
    verdicts: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)
    turn_leaderboards: dict[int, pd.DataFrame] = field(default_factory=dict)
    """For multi-turn outputs, one board per turn; ``leaderboard`` pools all turns."""
    trust: TrustReport | None = None
    """How far the run's judge can be trusted, from its own verdicts (and human labels)."""

    def to_json(self) -> dict[str, Any]:
        payload = result_json(self.run_id, self.leaderboard, self.stats, trust=self.trust)
        if self.turn_leaderboards:
            payload["per_turn"] = turn_rows(self.turn_leaderboards)
        return payload


def output_list(outputs: OutputsArg) -> list[str | Path | pd.DataFrame]:
    if isinstance(outputs, (str, Path, pd.DataFrame)):
        return [outputs]
    return list(outputs)


def load_comparable(outputs: OutputsArg) -> OutputSet:
    """Load outputs and warn about prompts that only one model answered (they are skipped)."""
    data = load_outputs(output_list(outputs))
    if data.skipped_prompts:
        log.warning(
            "skipped %d prompt(s) answered by only one model: %s",
            len(data.skipped_prompts),
            ", ".join(data.skipped_prompts[:5]) + (" …" if len(data.skipped_prompts) > 5 else ""),
        )
    return data


def result_json(
    run_id: str,
    leaderboard: pd.DataFrame,
    stats: dict[str, Any],
    *,
    trust: TrustReport | None = None,
) -> dict[str, Any]:
    """The ``--json`` shape of a run's result: run id, leaderboard records, stats and the
    trust report (``trust``, when the run has one)."""
    out: dict[str, Any] = {
        "run_id": run_id,
        "leaderboard": json.loads(leaderboard.to_json(orient="records")),
        "stats": stats,
    }
    if trust is not None:
        out["trust"] = trust.to_dict()
    return out


def resolve_human(human: str | Path | HumanLabels | None) -> HumanLabels | None:
    """Human labels from a path (any layout the judge report reads) or as given."""
    if human is None:
        return None
    labels = human if isinstance(human, HumanLabels) else load_human_labels(human)
    if labels.pairs.empty:
        raise ConfigError(
            f"{labels.source or 'human labels'}: no pairwise labels; a comparison is checked "
            "against pairwise human preferences"
        )
    return labels


def label_trust(
    outcomes: pd.DataFrame, data: OutputSet, human: HumanLabels | None, *, seed: int = 0
) -> dict[str, Any]:
    """Label figures of a run's usable outcomes against human labels (empty without any)."""
    if human is None:
        return {}
    ok = outcomes[outcomes["status"] == "ok"]
    texts = {(c.prompt_id, c.model): c.output for c in data.candidates}
    ok = ok.assign(
        output_a=[texts.get(k) for k in zip(ok["prompt_id"], ok["model_a"], strict=True)],
        output_b=[texts.get(k) for k in zip(ok["prompt_id"], ok["model_b"], strict=True)],
    )
    joined = join_labels(ok, human.pairs)
    if joined.empty:
        log.warning("none of the human labels in %s matches a comparison of this run", human.source)
    return joined_label_figures(joined, seed=seed)


def store_trust(store: Store, run_id: str, report: TrustReport, human: HumanLabels | None) -> None:
    """Keep the trust report (and the human labels it used) with the run."""
    write_trust(store, run_id=run_id, report=report.to_dict())
    if human is not None:
        write_human_labels(store, run_id=run_id, labels=human)


def compare_run_id(outputs: OutputSet, *, judge_id: str, config: dict[str, Any]) -> str:
    # The same inputs, judge and options give the same run id: a re-run replaces its rows.
    payload = json.dumps({"inputs": outputs.digest(), "judge": judge_id, **config}, sort_keys=True)
    return "cmp-" + hashlib.sha256(payload.encode()).hexdigest()[:10]


def verdict_rows(
    run_id: str, planned: Sequence[PlannedCall], verdicts: Sequence[Verdict], hashes: Sequence[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": run_id,
            "prompt_id": [p.comparison.prompt_id for p in planned],
            "model_a": [p.comparison.model_a for p in planned],
            "model_b": [p.comparison.model_b for p in planned],
            "position_order": [p.order for p in planned],
            "request_hash": list(hashes),
            "status": [v.status for v in verdicts],
            "p_first": [v.p_first for v in verdicts],
            "p_second": [v.p_second for v in verdicts],
            "p_tie": [v.p_tie for v in verdicts],
            "discrete": [v.discrete for v in verdicts],
            "raw": [v.raw for v in verdicts],
            "error": [v.error for v in verdicts],
        }
    )


def run_summary(
    frame: pd.DataFrame, parse_failures: int, exec_stats: ExecutionStats, skipped: int
) -> dict[str, Any]:
    ok = frame[frame["status"] == "ok"]
    return {
        "comparisons": int(len(frame)),
        "usable_comparisons": int(len(ok)),
        "judge_calls_planned": exec_stats.planned,
        "judge_calls_unique": exec_stats.unique,
        "judge_calls_cached": exec_stats.cached,
        "judge_calls_made": exec_stats.called,
        "judge_calls_failed": exec_stats.failed,
        "parse_failures": parse_failures,
        "flip_rate": float(ok["flipped"].mean()) if len(ok) else 0.0,
        "tie_rate": float(ok["tie"].mean()) if len(ok) else 0.0,
        "judging_seconds": round(exec_stats.seconds, 3),
        "skipped_prompts": skipped,
    }


def judging_criteria(opts: CompareOptions) -> str | None:
    """The criteria text for the judge prompt: ``criteria``, or a rubric's criteria (or a
    constitution's principles) when ``rubric`` names one; None for the default."""
    if opts.rubric is None:
        return opts.criteria
    from judgekit.protocols.pointwise import criteria_text
    from judgekit.rubrics import load_rubric

    return criteria_text(load_rubric(opts.rubric))


def input_tables(run_id: str, data: OutputSet) -> dict[str, pd.DataFrame]:
    items = list(data.items.values())
    return {
        "items": pd.DataFrame(
            {
                "run_id": run_id,
                "prompt_id": [i.prompt_id for i in items],
                "prompt": [i.prompt for i in items],
                "reference": [i.reference for i in items],
                "category": [i.category for i in items],
            }
        ),
        "candidates": pd.DataFrame(
            {
                "run_id": run_id,
                "prompt_id": [c.prompt_id for c in data.candidates],
                "model": [c.model for c in data.candidates],
                "output": [c.output for c in data.candidates],
            }
        ),
    }


def combine_verdicts(
    planned: Sequence[PlannedCall], verdicts: Sequence[Verdict], *, disagreement: str
) -> list[Outcome]:
    by_comparison: dict[Any, dict[str, Verdict]] = {}
    for call, verdict in zip(planned, verdicts, strict=True):
        by_comparison.setdefault(call.comparison, {})[call.order] = verdict
    return [
        combine_orders(
            pair["ab"],
            pair["ba"],
            prompt_id=comp.prompt_id,
            model_a=comp.model_a,
            model_b=comp.model_b,
            disagreement=disagreement,  # type: ignore[arg-type]
        )
        for comp, pair in by_comparison.items()
    ]
