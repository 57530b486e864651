"""``judgekit constitution``: extract principles from pairwise preferences (Inverse
Constitutional AI) and write them as a rubric."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import click
import pandas as pd
from rich.table import Table

from judgekit.commands.common import collects_judge_options, print_json, stderr, stdout
from judgekit.commands.grade import judge_backend_options

if TYPE_CHECKING:
    from judgekit.judges.base import JudgeOptions


def _fmt(value: Any, spec: str) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def principles_table(principles: pd.DataFrame, *, title: str) -> Table:
    """The constitution: rank, principle, votes on the training pairs, held-out agreement."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("#", justify="right")
    table.add_column("Principle")
    table.add_column("For", justify="right")
    table.add_column("Against", justify="right")
    table.add_column("Abstain", justify="right")
    table.add_column("Relevance", justify="right")
    table.add_column("Accuracy", justify="right")
    table.add_column("Alone (held-out)", justify="right")
    for row in principles.to_dict(orient="records"):
        table.add_row(
            str(row["rank"]),
            str(row["principle"]),
            str(row["n_for"]),
            str(row["n_against"]),
            str(row["n_abstain"]),
            _fmt(row["relevance"], ".0%"),
            _fmt(row["accuracy"], ".0%"),
            _fmt(row["alone_agreement"], ".1%"),
        )
    return table


def report_table(report: pd.DataFrame, *, title: str) -> Table:
    """The reconstruction report: agreement with the labels per condition."""
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("Judge prompted with")
    table.add_column("N", justify="right")
    table.add_column("Agreement", justify="right")
    table.add_column("Decided agreement", justify="right")
    table.add_column("Ties", justify="right")
    table.add_column("Errors", justify="right")
    labels = {"none": "no constitution", "constitution": "the constitution"}
    for row in report.to_dict(orient="records"):
        name = labels.get(row["condition"], f"{row['condition']} alone")
        table.add_row(
            name,
            str(row["n"]),
            _fmt(row["agreement"], ".1%"),
            _fmt(row["decided_agreement"], ".1%"),
            str(row["ties"]),
            str(row["errors"]),
        )
    return table


@click.command()
@collects_judge_options
@click.argument("prefs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "pairs", "icai", "arena", "mt_bench", "alpaca_eval"]),
    default="auto",
    show_default=True,
    help="Shape of PREFS; auto detects it per file from the columns.",
)
@judge_backend_options
@click.option(
    "--max-principles",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Length of the constitution.",
)
@click.option(
    "--sample",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Training pairs that principles are proposed for and tested on.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of split and sample.")
@click.option(
    "--test-fraction",
    default=0.25,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, max_open=True),
    help="Share of the decided pairs held out for the reconstruction report.",
)
@click.option(
    "--test-sample",
    default=None,
    type=click.IntRange(min=1),
    help="Judge at most this many held-out pairs (default: all held out).",
)
@click.option(
    "--principles-per-pair",
    default=3,
    show_default=True,
    type=click.IntRange(1, 10),
    help="Principles the judge proposes for each training pair.",
)
@click.option(
    "--generate-tokens",
    default=160,
    show_default=True,
    type=click.IntRange(min=16),
    help="Token budget of one proposal.",
)
@click.option(
    "--embedder",
    type=click.Choice(["auto", "minilm", "tfidf"]),
    default="auto",
    show_default=True,
    help="Principle embeddings for clustering: minilm needs judgekit[embeddings]; auto uses "
    "it when installed, else TF-IDF.",
)
@click.option(
    "--cluster-threshold",
    default=None,
    type=click.FloatRange(0.0, 2.0, min_open=True),
    help="Cosine distance that joins principles into a cluster (default: 0.25 MiniLM, 0.5 TF-IDF).",
)
@click.option(
    "--max-candidates",
    default=40,
    show_default=True,
    type=click.IntRange(min=1),
    help="Test at most this many clusters (the largest).",
)
@click.option(
    "--min-relevance",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Keep principles that decide at least this share of the training pairs.",
)
@click.option(
    "--min-accuracy",
    default=0.6,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Keep principles that agree with the labels on at least this share of the pairs "
    "they decide.",
)
@click.option(
    "--coverage/--no-coverage",
    default=False,
    show_default=True,
    help="Select greedily for coverage of the training pairs instead of by net votes.",
)
@click.option(
    "--verdict",
    type=click.Choice(["auto", "logprobs", "generate"]),
    default="auto",
    show_default=True,
    help="Votes and reconstruction: logprobs (one forward pass per order) or generate.",
)
@click.option(
    "--name",
    default=None,
    help="Rubric name of the constitution (default: constitution).",
)
@click.option(
    "-o",
    "--output",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the constitution as rubric YAML here (usable with compare --rubric).",
)
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB store; every stage is stored, and a re-run judges only what is missing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
@click.option(
    "--progress/--no-progress",
    default=True,
    show_default=True,
    help="Show progress bars on stderr.",
)
def constitution(
    prefs: tuple[str, ...],
    fmt: str,
    judge_id: str,
    judge_options: JudgeOptions,
    max_principles: int,
    sample: int,
    seed: int,
    test_fraction: float,
    test_sample: int | None,
    principles_per_pair: int,
    generate_tokens: int,
    embedder: str,
    cluster_threshold: float | None,
    max_candidates: int,
    min_relevance: float,
    min_accuracy: float,
    coverage: bool,
    verdict: str,
    name: str | None,
    output: str | None,
    db: str,
    as_json: bool,
    progress: bool,
) -> None:
    """Extract a constitution from pairwise preferences PREFS and test it.

    The judge proposes principles ("Select the response that ...") for sampled pairs;
    they are clustered and de-duplicated, each is tested on every training pair in both
    orders, and the best by votes for minus against form the constitution. On held-out
    pairs, the judge's agreement with the labels is reported with no constitution, with
    the constitution, and with each principle alone (Inverse Constitutional AI).

    PREFS are CSV, JSONL, JSON or Parquet files: text_a, text_b, preferred (a, b or tie)
    and an optional prompt; ICAI CSVs (preferred_text); Chatbot Arena or MT-Bench battles
    (conversation_a, conversation_b, winner); or AlpacaEval annotations (output_1,
    output_2, preference).

    \b
    Example:
      judgekit constitution prefs.csv --judge hf/smollm2 --max-principles 10 \\
          --sample 200 --seed 0 -o constitution.yaml
      judgekit compare outs/*.jsonl --rubric constitution.yaml
    """
    from judgekit.runs.icai import ConstitutionOptions
    from judgekit.runs.icai import constitution as run_constitution

    options = ConstitutionOptions(
        max_principles=max_principles,
        sample=sample,
        seed=seed,
        test_fraction=test_fraction,
        test_sample=test_sample,
        principles_per_pair=principles_per_pair,
        generate_tokens=generate_tokens,
        embedder=embedder,  # type: ignore[arg-type]
        cluster_threshold=cluster_threshold,
        max_candidates=max_candidates,
        min_relevance=min_relevance,
        min_accuracy=min_accuracy,
        coverage=coverage,
        verdict=verdict,  # type: ignore[arg-type]
        name=name,
    )
    result = run_constitution(
        list(prefs),
        judge=judge_id,
        db=db,
        format=fmt,  # type: ignore[arg-type]
        options=options,
        judge_options=judge_options,
        progress=progress and not as_json,
    )
    written = str(result.write_rubric(output)) if output and result.rubric is not None else None
    if as_json:
        print_json({**result.to_json(), "rubric_path": written})
        return
    s = result.stats
    if result.principles.empty:
        stderr.print(
            "[yellow]No principle passed the filters; nothing to write. Lower --min-accuracy "
            "or --min-relevance, or use more pairs.[/yellow]"
        )
    else:
        stdout.print(principles_table(result.principles, title=f"Constitution · {judge_id}"))
    if not result.report.empty:
        stdout.print(
            report_table(result.report, title=f"Reconstruction on {s['test_pairs']} held-out pairs")
        )
    where = f"written to {written}" if written else "not written (use -o FILE.yaml)"
    stderr.print(
        f"run {result.run_id} · {s['train_pairs']} training pairs, {s['ties']} ties skipped · "
        f"{s['principles_proposed']} principles proposed ({s['proposal_failures']} failed "
        f"proposals), {s['clusters']} clusters, {s['clusters_tested']} tested · judge calls: "
        f"{s['judge_calls_made']} made, {s['judge_calls_cached']} cached, "
        f"{s['judge_calls_failed']} failed · constitution {where} · stored in {db}",
        soft_wrap=True,
    )
