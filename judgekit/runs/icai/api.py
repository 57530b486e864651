"""``constitution()``: compress pairwise preferences into principles, and test them.

The ICAI pipeline (Findeis et al., *Inverse Constitutional AI: Compressing Preferences into
Principles*, 2024), with every stage's rows in the DuckDB store:

1. split the decided pairs into training and held-out pairs (:mod:`judgekit.runs.icai.data`);
2. the judge proposes principles per training pair (:mod:`judgekit.runs.icai.generate`);
3. principles are embedded, clustered and de-duplicated (:mod:`judgekit.runs.icai.cluster`);
4. every representative is tested on every training pair in both orders
   (:mod:`judgekit.runs.icai.vote`);
5. the constitution is selected by relevance, accuracy and net votes
   (:mod:`judgekit.runs.icai.select`) and written as a rubric (:mod:`judgekit.runs.icai.rubric`);
6. on the held-out pairs the judge is scored with no constitution, with the constitution
   and with each principle alone (:mod:`judgekit.runs.icai.report`).

Every judge call goes through :func:`judgekit.runs.runner.execute`, which caches it by request
hash: an interrupted run, re-run with the same arguments, makes only the calls it lacks.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError
from rich.progress import Progress

from judgekit.errors import ConfigError
from judgekit.judges.base import Judge, JudgeOptions
from judgekit.judges.registry import get_judge
from judgekit.protocols.pairwise import VerdictMode
from judgekit.rubrics.model import Rubric
from judgekit.runs.grade import exec_summary
from judgekit.runs.icai.cluster import (
    assign_clusters,
    cluster_principles,
    clusters_frame,
    resolve_embedder,
)
from judgekit.runs.icai.data import (
    Format,
    PreferenceSet,
    PrefsArg,
    Split,
    load_preferences,
    split_pairs,
)
from judgekit.runs.icai.generate import propose_principles
from judgekit.runs.icai.options import ConstitutionOptions
from judgekit.runs.icai.report import CONSTITUTION, NONE, conditions_for, reconstruct, report_frame
from judgekit.runs.icai.rubric import DEFAULT_NAME, constitution_rubric, criterion_id, rubric_yaml
from judgekit.runs.icai.select import select_principles
from judgekit.runs.icai.vote import VOTE_COLUMNS, run_votes, tally
from judgekit.runs.progress import make_progress
from judgekit.runs.runner import ExecutionStats
from judgekit.store.db import Store, open_store

log = logging.getLogger("judgekit")

PRINCIPLE_COLUMNS = [
    "rank",
    "criterion_id",
    "cluster_id",
    "principle",
    "n_for",
    "n_against",
    "n_abstain",
    "n_errors",
    "relevance",
    "accuracy",
    "net",
    "size",
    "alone_agreement",
]
_RUN_TABLES = (
    "icai_pairs",
    "icai_generations",
    "icai_principles",
    "icai_clusters",
    "icai_votes",
    "icai_vote_outcomes",
    "icai_constitutions",
    "icai_reports",
    "icai_reconstructions",
)


@dataclass
class ConstitutionResult:
    """What :func:`constitution` returns.

    Attributes:
        principles: the constitution, one row per principle in order: rank, criterion_id,
            cluster_id, principle, votes for/against/abstain/errors, relevance, accuracy,
            net, cluster size, and its held-out agreement when used alone.
        candidates: every tested principle with its votes, ``selected`` and ``rank``.
        report: the reconstruction report (``none``, ``constitution``, each principle).
        rubric: the constitution as a :class:`~judgekit.rubrics.Rubric`; None when no
            principle passed the filters.
        rubric_text: the rubric YAML, with vote statistics as comments.
        proposals: every principle the judge proposed, with its pair and cluster.
    """

    run_id: str
    principles: pd.DataFrame
    candidates: pd.DataFrame
    report: pd.DataFrame
    rubric: Rubric | None
    rubric_text: str | None
    proposals: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)

    def write_rubric(self, path: str | Path) -> Path:
        """Write the constitution as rubric YAML, loadable with ``load_rubric(path)``.

        Raises:
            ConfigError: the run selected no principle.
        """
        if self.rubric_text is None:
            raise ConfigError(
                "no principle passed the filters, so there is no constitution to write; "
                "lower min_accuracy or min_relevance, or use more pairs"
            )
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.rubric_text, encoding="utf-8")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "principles": json.loads(self.principles.to_json(orient="records")),
            "report": json.loads(self.report.to_json(orient="records")),
            "stats": self.stats,
        }


def _options(options: ConstitutionOptions | None, overrides: dict[str, Any]) -> ConstitutionOptions:
    try:
        return ConstitutionOptions.model_validate(
            {**(options or ConstitutionOptions()).model_dump(), **overrides}
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(k) for k in error["loc"])
        raise ConfigError(f"constitution option {where}: {error['msg']}") from None


def _run_id(data: PreferenceSet, config: dict[str, Any]) -> str:
    # The same data, judge and options give the same id: a re-run replaces its rows and
    # finds its judge calls cached.
    payload = json.dumps({"inputs": data.digest(), **config}, sort_keys=True, default=str)
    return "icai-" + hashlib.sha256(payload.encode()).hexdigest()[:10]


def _pairs_table(run_id: str, data: PreferenceSet, split: Split) -> pd.DataFrame:
    where = split.split_of()
    frame = data.frame()
    frame["split"] = [
        "tie" if pref == "tie" else where[pid]
        for pid, pref in zip(frame["pair_id"], frame["preferred"], strict=True)
    ]
    return frame.assign(run_id=run_id)


def constitution(
    prefs: PrefsArg,
    *,
    judge: str | Judge = "hf/smollm2",
    db: str | Path = "judgekit.duckdb",
    format: Format = "auto",
    options: ConstitutionOptions | None = None,
    judge_options: JudgeOptions | None = None,
    progress: bool = False,
    **overrides: Any,
) -> ConstitutionResult:
    """Extract a constitution from pairwise preferences and measure how well it reconstructs
    them (Inverse Constitutional AI).

    Args:
        prefs: preference files (CSV, JSONL, JSON, Parquet) or DataFrames in one of the
            shapes of :mod:`judgekit.runs.icai.data`.
        judge: the judge that proposes principles, votes and reconstructs (an id such as
            ``"hf/smollm2"``, or a Judge).
        db: the DuckDB store; every stage's rows and every judge call go there.
        format: the preference shape, or ``auto`` to detect it per file.
        options: a :class:`ConstitutionOptions`; keyword ``overrides`` update it
            (``constitution(path, judge=j, max_principles=10, sample=200, seed=0)``).
        judge_options: backend options for a judge given by id.
        progress: show progress bars on stderr.

    Returns:
        A :class:`ConstitutionResult`: ``principles`` (DataFrame), ``rubric``, ``report``
        (DataFrame) and :meth:`~ConstitutionResult.write_rubric`.

    Raises:
        InputError, ConfigError, MissingDependencyError, StoreError: before anything is
        written to the store.
    """
    opts = _options(options, overrides)
    data = load_preferences(prefs, format=format)
    split = split_pairs(
        data,
        sample=opts.sample,
        test_fraction=opts.test_fraction,
        test_sample=opts.test_sample,
        seed=opts.seed,
    )
    embedder = resolve_embedder(opts.embedder)
    judge_obj = get_judge(judge, options=judge_options) if isinstance(judge, str) else judge
    mode: VerdictMode = (
        opts.verdict
        if opts.verdict != "auto"
        else ("logprobs" if judge_obj.supports_logprobs else "generate")
    )
    config = {
        **opts.model_dump(),
        "judge": judge_obj.id,
        "embedder": embedder,
        "verdict_mode": mode,
        "format": format,
    }
    run_id = _run_id(data, config)
    config["inputs"] = data.sources
    store = open_store(db)
    with store, store.writer_lock():
        store.create_run(kind="constitution", config=config, run_id=run_id)
        empty = {table: pd.DataFrame() for table in _RUN_TABLES}
        store.replace_rows(run_id, {**empty, "icai_pairs": _pairs_table(run_id, data, split)})
        try:
            result = _pipeline(
                data,
                split,
                judge=judge_obj,
                store=store,
                run_id=run_id,
                opts=opts,
                embedder=embedder,
                mode=mode,
                progress=progress,
            )
        except BaseException:
            store.finish_run(run_id, status="interrupted")
            raise
        store.finish_run(run_id, stats=result.stats)
    return result


@dataclass
class _Selection:
    """What stages 1-4 produced: proposals, clusters, votes and the chosen principles."""

    generations: pd.DataFrame
    proposals: pd.DataFrame
    clusters: pd.DataFrame
    n_clusters: int
    texts: dict[str, str]
    votes: pd.DataFrame
    candidates: pd.DataFrame
    chosen: list[str]


def _extract(
    split: Split,
    *,
    judge: Judge,
    store: Store,
    run_id: str,
    opts: ConstitutionOptions,
    embedder: str,
    mode: VerdictMode,
    progress: Progress,
    stages: list[ExecutionStats],
) -> _Selection:
    """Stages 1-4 on the training pairs, each stage's rows stored as soon as it is done."""
    generations, proposals, stats = propose_principles(
        split.train,
        judge=judge,
        store=store,
        per_pair=opts.principles_per_pair,
        max_tokens=opts.generate_tokens,
        progress=progress,
    )
    stages.append(stats)
    store.replace_rows(run_id, {"icai_generations": generations.assign(run_id=run_id)})

    clustering = cluster_principles(
        list(proposals["principle"]),
        embedder=embedder,
        threshold=opts.cluster_threshold,
        store=store,
    )
    clusters = clusters_frame(clustering, max_candidates=opts.max_candidates)
    if len(proposals):
        proposals = assign_clusters(proposals, clustering)
    store.replace_rows(
        run_id,
        {
            "icai_principles": proposals.assign(run_id=run_id),
            "icai_clusters": clusters.assign(run_id=run_id, embedder=embedder),
        },
    )

    tested = clusters[clusters["tested"]]
    texts = dict(zip(tested["cluster_id"], tested["principle"], strict=True))
    if texts:
        raw_votes, votes, stats = run_votes(
            texts, split.train, judge=judge, store=store, mode=mode, progress=progress
        )
        stages.append(stats)
    else:
        log.warning("no principle could be read from the judge's proposals; nothing to test")
        raw_votes, votes = pd.DataFrame(), pd.DataFrame(columns=VOTE_COLUMNS)
    store.replace_rows(
        run_id,
        {
            "icai_votes": raw_votes.assign(run_id=run_id),
            "icai_vote_outcomes": votes.assign(run_id=run_id),
        },
    )

    candidates = tested.merge(tally(votes, list(texts)), on="cluster_id", how="left")
    chosen = select_principles(
        candidates,
        votes,
        max_principles=opts.max_principles,
        min_relevance=opts.min_relevance,
        min_accuracy=opts.min_accuracy,
        coverage=opts.coverage,
    )
    rank = {cid: i for i, cid in enumerate(chosen, start=1)}
    candidates["selected"] = candidates["cluster_id"].isin(rank)
    candidates["rank"] = candidates["cluster_id"].map(rank).astype("Int64")
    if not chosen:
        log.warning(
            "no principle passed the filters (relevance >= %s, accuracy >= %s, net > 0)",
            opts.min_relevance,
            opts.min_accuracy,
        )
    return _Selection(
        generations=generations,
        proposals=proposals,
        clusters=clusters,
        n_clusters=clustering.n_clusters,
        texts=texts,
        votes=votes,
        candidates=candidates,
        chosen=chosen,
    )


def _pipeline(
    data: PreferenceSet,
    split: Split,
    *,
    judge: Judge,
    store: Store,
    run_id: str,
    opts: ConstitutionOptions,
    embedder: str,
    mode: VerdictMode,
    progress: bool,
) -> ConstitutionResult:
    stages: list[ExecutionStats] = []
    bar = make_progress(enabled=progress)
    with bar:
        found = _extract(
            split,
            judge=judge,
            store=store,
            run_id=run_id,
            opts=opts,
            embedder=embedder,
            mode=mode,
            progress=bar,
            stages=stages,
        )
        rubric = None
        if found.chosen:
            description = (
                f"Inverse constitution of {', '.join(data.sources)}: principles that let a "
                f"judge reconstruct its preferences ({len(split.train)} training pairs, "
                f"judge {judge.id})."
            )
            rubric = constitution_rubric(
                [found.texts[c] for c in found.chosen],
                name=opts.name or DEFAULT_NAME,
                description=description,
            )

        # Stage 5: the held-out pairs, judged with and without the constitution.
        conditions = conditions_for(rubric, [(c, found.texts[c]) for c in found.chosen])
        outcomes = pd.DataFrame(columns=["condition", "status", "winner", "preferred"])
        if split.test:
            outcomes, stats = reconstruct(
                split.test, conditions, judge=judge, store=store, mode=mode, progress=bar
            )
            stages.append(stats)
        else:
            log.warning("no held-out pairs (test fraction 0): the report is empty")
            conditions = []
        report = report_frame(outcomes, conditions)

    principles = _principles_frame(found.candidates, found.chosen, report)
    text = None
    if rubric is not None:
        header = _header(data, split, judge=judge, run_id=run_id, report=report, n=len(found.texts))
        text = rubric_yaml(rubric, header=header, notes=_notes(principles))
    tallied = found.candidates.drop(
        columns=["principle", "size", "n_variants", "cohesion", "tested"]
    )
    all_clusters = found.clusters.merge(tallied, on="cluster_id", how="left")
    all_clusters["selected"] = all_clusters["selected"].eq(True)
    store.replace_rows(
        run_id,
        {
            "icai_clusters": all_clusters.assign(run_id=run_id, embedder=embedder),
            "icai_constitutions": pd.DataFrame(
                {
                    "run_id": [run_id],
                    "name": [opts.name or DEFAULT_NAME],
                    "n_principles": [len(found.chosen)],
                    "rubric_yaml": [text],
                }
            ),
            "icai_reports": report.assign(run_id=run_id),
            "icai_reconstructions": outcomes.assign(run_id=run_id),
        },
    )
    summary = _summary(data, split, found)
    summary.update(
        embedder=embedder,
        verdict_mode=mode,
        agreement_none=_agreement(report, NONE),
        agreement_constitution=_agreement(report, CONSTITUTION),
        **exec_summary(*stages),
    )
    candidates = found.candidates.sort_values(["rank", "cluster_id"], na_position="last")
    return ConstitutionResult(
        run_id=run_id,
        principles=principles,
        candidates=candidates.reset_index(drop=True),
        report=report,
        rubric=rubric,
        rubric_text=text,
        proposals=found.proposals,
        stats=summary,
    )


def _agreement(report: pd.DataFrame, condition: str) -> float | None:
    row = report[report["condition"] == condition]
    if row.empty or pd.isna(row["agreement"].iloc[0]):
        return None
    return round(float(row["agreement"].iloc[0]), 4)


def _principles_frame(
    candidates: pd.DataFrame, chosen: list[str], report: pd.DataFrame
) -> pd.DataFrame:
    by_id = candidates.set_index("cluster_id")
    alone = dict(zip(report["cluster_id"], report["agreement"], strict=True))
    rows = []
    for rank, cid in enumerate(chosen, start=1):
        row = by_id.loc[cid]
        rows.append(
            {
                "rank": rank,
                "criterion_id": criterion_id(rank),
                "cluster_id": cid,
                "principle": row["principle"],
                **{k: int(row[k]) for k in ("n_for", "n_against", "n_abstain", "n_errors")},
                "relevance": float(row["relevance"]),
                "accuracy": float(row["accuracy"]),
                "net": int(row["net"]),
                "size": int(row["size"]),
                "alone_agreement": alone.get(cid, np.nan),
            }
        )
    return pd.DataFrame(rows, columns=PRINCIPLE_COLUMNS)


def _header(
    data: PreferenceSet, split: Split, *, judge: Judge, run_id: str, report: pd.DataFrame, n: int
) -> list[str]:
    lines = [
        "Constitution extracted by `judgekit constitution` (Inverse Constitutional AI).",
        f"Source: {', '.join(data.sources)} · judge {judge.id} · run {run_id}",
        f"{len(split.train)} training pairs, {len(split.test)} held-out pairs, "
        f"{n} principles tested.",
    ]
    none, const = _agreement(report, NONE), _agreement(report, CONSTITUTION)
    if none is not None and const is not None:
        lines.append(
            f"Held-out agreement with the labels: no constitution {none:.1%}, "
            f"this constitution {const:.1%}."
        )
    lines.append("The comment above each principle gives its votes on the training pairs.")
    return lines


def _notes(principles: pd.DataFrame) -> dict[str, dict[str, Any]]:
    notes = {}
    for row in principles.to_dict(orient="records"):
        notes[row["criterion_id"]] = {
            "for": row["n_for"],
            "against": row["n_against"],
            "abstain": row["n_abstain"],
            "relevance": row["relevance"],
            "accuracy": row["accuracy"],
            "held-out agreement alone": row["alone_agreement"],
        }
    return notes


def _summary(data: PreferenceSet, split: Split, found: _Selection) -> dict[str, Any]:
    proposals, votes = found.proposals, found.votes
    return {
        "pairs": len(data.pairs),
        "ties": data.n_ties,
        "train_pairs": len(split.train),
        "test_pairs": len(split.test),
        "unused_pairs": len(split.unused),
        "formats": data.formats,
        "proposal_failures": int((found.generations["status"] != "ok").sum()),
        "principles_proposed": len(proposals),
        "unique_principles": int(proposals["principle"].str.lower().nunique())
        if len(proposals)
        else 0,
        "clusters": found.n_clusters,
        "clusters_tested": len(found.texts),
        "votes": len(votes),
        "vote_errors": int((votes["vote"] == "error").sum()) if len(votes) else 0,
        "principles_selected": len(found.chosen),
    }
