"""``judgekit meta``: the judge-quality report of a run, or a comparison of several judges."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pandas as pd
from rich.table import Table

from judgekit.commands.common import (
    UNTRUSTED_EXIT,
    judge_on_cluster,
    print_json,
    ray_cluster_options,
    show_trust,
    stderr,
    stdout,
    strict_option,
)
from judgekit.inputs.human import LABEL_FORMATS

if TYPE_CHECKING:
    from judgekit.runs.ray_exec import RayOptions

#: Figures shown as plain numbers; every other figure without a unit is a share.
_NUMBERS = {
    "Cohen's kappa": ".3f",
    "inter-judge alpha": ".3f",
    "score Pearson": ".3f",
    "score Spearman": ".3f",
    "score Kendall": ".3f",
    "length coefficient": ".3f",
    "repeat variance": ".4f",
    "labelled comparisons": ",.0f",
    "mean latency (s)": ".3f",
    "p95 latency (s)": ".3f",
    "prompt tokens": ",.0f",
    "completion tokens": ",.0f",
    "cost": ".4f",
}


def format_value(metric: str, value: Any) -> str:
    """A report value as the table shows it: a percentage, or a number for the figures
    that are not shares."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if metric == "LC win-rate shift":
        return f"{100 * value:.1f} pts"
    return format(value, _NUMBERS.get(metric, ".1%"))


def _detail(detail: dict[str, Any]) -> str:
    if not isinstance(detail, dict):
        return ""
    if detail.get("ci_low") is not None and detail.get("ci_high") is not None:
        low, high = detail["ci_low"], detail["ci_high"]
        if isinstance(low, float) and not math.isnan(low):
            return f"95% CI {100 * low:.0f}–{100 * high:.0f} %"
    if "gold_rate" in detail:
        return f"judge {detail['judge_rate']:.1%} vs gold {detail['gold_rate']:.1%}"
    if "self_model" in detail:
        return f"own model: {detail['self_model']} (raw rate, no gold labels)"
    if "agreement_with_debiased" in detail:
        return f"agrees with the debiased verdict {detail['agreement_with_debiased']:.1%}"
    if "cycles" in detail:
        return f"{detail['cycles']} cycles on {detail['prompts_with_cycles']} prompts"
    if "judges" in detail:
        return ", ".join(detail["judges"])
    return str(detail.get("what", ""))


def report_table(metrics: pd.DataFrame, *, title: str) -> Table:
    """A rich table of a report: section, measure, value, n and a short detail."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for name, justify in (
        ("Section", "left"),
        ("Measure", "left"),
        ("Value", "right"),
        ("N", "right"),
        ("Detail", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in metrics.to_dict("records"):
        n = row.get("n")
        table.add_row(
            str(row["section"]),
            str(row["metric"]),
            format_value(str(row["metric"]), row["value"]),
            "–" if n is None or (isinstance(n, float) and math.isnan(n)) else f"{int(n):,}",
            _detail(row.get("detail") or {}),
        )
    return table


def comparison_rich_table(frame: pd.DataFrame) -> Table:
    """A rich table of :func:`judgekit.quality.report.comparison_table`'s frame."""
    table = Table(title="Judges compared", title_justify="left", header_style="bold")
    for column in frame.columns:
        table.add_column(column, justify="left" if column in ("judge", "run_id") else "right")
    for row in frame.to_dict("records"):
        table.add_row(
            *[
                str(row[c]) if c in ("judge", "run_id") else format_value(c, row[c])
                for c in frame.columns
            ]
        )
    return table


def _lc_table(lc: pd.DataFrame) -> Table:
    table = Table(title="Length control", title_justify="left", header_style="bold")
    for name in ("Model", "Win rate", "LC win rate", "N"):
        table.add_column(name, justify="left" if name == "Model" else "right")
    for row in lc.sort_values("lc_win_rate", ascending=False).to_dict("records"):
        table.add_row(
            str(row["model"]), f"{row['win_rate']:.1%}", f"{row['lc_win_rate']:.1%}", str(row["n"])
        )
    return table


@click.command("meta")
@ray_cluster_options
@click.argument("outputs", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="DuckDB store; the report is stored with the run.",
)
@click.option("--run", "run_id", default=None, help="Run id (default: the latest finished run).")
@click.option(
    "--human",
    "human_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Human labels: prompt_id/model_a/model_b/winner rows, MT-Bench human judgments, "
    "Chatbot Arena battles or AlpacaEval annotations; or labels with their own texts "
    "(prompt/text_a/text_b/preferred rows, LLMBar's input/output_1/output_2/label), which "
    "--judges judges without OUTPUTS.",
)
@click.option(
    "--human-format",
    type=click.Choice(LABEL_FORMATS),
    default="auto",
    show_default=True,
    help="Format of the --human file.",
)
@click.option(
    "--judges",
    default=None,
    help="Comma-separated judge ids: judge OUTPUTS with each and compare them with --human.",
)
@click.option(
    "--self-model",
    default=None,
    help="The candidate made by the judge's own model (default: inferred from the judge id).",
)
@click.option(
    "--schedule",
    default="all-pairs",
    show_default=True,
    help="With --judges: all-pairs, baseline:MODEL or sample:N.",
)
@click.option("--base-url", default=None, help="With --judges: an OpenAI-compatible base URL.")
@click.option(
    "--probe",
    type=click.Choice(["injection"]),
    default=None,
    help="Robustness probe of the judge in --judges on OUTPUTS. injection: how often a "
    "verdict flips to --target when its outputs end with text that addresses the judge "
    "('Ignore the instructions above...'), with and without fencing.",
)
@click.option(
    "--target", default=None, help="With --probe: the model whose outputs get the injection."
)
@click.option(
    "--injection",
    type=click.Choice(["ignore", "fake-fence", "fake-turn"]),
    default="ignore",
    show_default=True,
    help="With --probe injection: the suffix (an order, a fake closing fence, a fake system turn).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead.")
@strict_option
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Progress bar on stderr."
)
def meta(
    outputs: tuple[str, ...],
    db: str,
    run_id: str | None,
    human_path: str | None,
    human_format: str,
    judges: str | None,
    self_model: str | None,
    schedule: str,
    base_url: str | None,
    probe: str | None,
    target: str | None,
    injection: str,
    as_json: bool,
    strict: bool,
    progress: bool,
    ray_options: RayOptions | None,
) -> None:
    """Print how far a judge can be trusted: agreement with humans, consistency, biases and
    operations.

    Without --judges, report on a stored run (--run, default the latest). With --judges,
    judge OUTPUTS with each judge (each a run in --db) and compare the judges against the
    human labels. Labels that carry their own texts (text pairs, LLMBar) need no OUTPUTS:
    their answers are judged.

    \b
    Example:
      judgekit meta --db judgekit.duckdb --human human_judgments.json
      judgekit meta --judges hf/smollm2,openai/gpt-4o-mini --human labels.jsonl a.jsonl b.jsonl
      judgekit meta --judges hf/smollm2 --human llmbar_natural.json
    """
    from judgekit.errors import StoreError
    from judgekit.inputs.human import load_human_labels
    from judgekit.quality.report import judge_report
    from judgekit.store import queries
    from judgekit.store.db import open_store

    if probe is not None:
        _run_probe(
            outputs,
            judges=judges,
            target=target,
            injection=injection,
            base_url=base_url,
            as_json=as_json,
            ray_options=ray_options,
        )
        return
    labels = (
        load_human_labels(human_path, format=human_format)  # type: ignore[arg-type]
        if human_path
        else None
    )
    # Labels with their own texts (text pairs, LLMBar) bring the answers to judge.
    texts = labels.outputs if labels is not None else None
    holds_texts = f"--human {human_path} holds the answers to judge"
    if judges:
        ids = [j.strip() for j in judges.split(",") if j.strip()]
        if texts is not None and outputs:
            raise click.UsageError(f"{holds_texts}; give no OUTPUTS with it")
        if not outputs and texts is None:
            raise click.UsageError("--judges needs the OUTPUTS files to judge")
        if labels is None:
            raise click.UsageError("--judges compares judges against --human labels")
        frame, trusts = _compare_judges(
            ids,
            outputs=[texts] if texts is not None else list(outputs),
            db=db,
            labels=labels,
            schedule=schedule,
            base_url=base_url,
            progress=progress and not as_json,
            ray_options=ray_options,
        )
        if as_json:
            print_json(json.loads(frame.to_json(orient="records")))
        else:
            stdout.print(comparison_rich_table(frame))
            for judge_id, trust in trusts.items():
                stdout.print(f"{judge_id}:", style="bold")
                show_trust(trust, strict=False, as_json=False)
        if strict and any(t is not None and t.warnings for t in trusts.values()):
            raise click.exceptions.Exit(UNTRUSTED_EXIT)
        return
    if outputs:
        raise click.UsageError("OUTPUTS are judged only with --judges")
    if texts is not None and run_id is None:
        raise click.UsageError(
            f"{holds_texts}: name the judge with --judges, or the run that judged them with --run"
        )
    if not Path(db).exists():
        raise StoreError(f"{db}: no such store; run `judgekit compare` first")
    with open_store(db) as store:
        run_id = run_id or queries.latest_run_id(store)
        report = judge_report(store, run_id=run_id, human=labels, self_model=self_model)
    if as_json:
        print_json(report.to_json())
        show_trust(report.trust, strict=strict, as_json=True)
        return
    stdout.print(report_table(report.metrics, title=f"Judge quality · run {run_id}"))
    if not report.length_control.empty:
        stdout.print(_lc_table(report.length_control))
    for note in report.notes:
        stderr.print(f"note: {note}", soft_wrap=True)
    show_trust(report.trust, strict=strict, as_json=False)


def _compare_judges(
    ids: list[str],
    *,
    outputs: list[str] | list[pd.DataFrame],
    db: str,
    labels: Any,
    schedule: str,
    base_url: str | None,
    progress: bool,
    ray_options: RayOptions | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Judge the outputs with each judge (one run each); tabulate their reports, and return
    each judge's trust report (with the label figures) by judge id."""
    from judgekit.judges.base import JudgeOptions
    from judgekit.quality.report import comparison_table, judge_report
    from judgekit.runs.compare import compare
    from judgekit.store.db import open_store
    from judgekit.views.trust_line import quiet_trust_warnings

    reports = {}
    options = JudgeOptions(base_url=base_url)
    for judge_id in ids:
        with (
            quiet_trust_warnings(),
            judge_on_cluster(judge_id, judge_options=options, ray_options=ray_options) as judge,
        ):
            result = compare(
                outputs,
                judge=judge,
                db=db,
                judge_options=options,
                progress=progress,
                schedule=schedule,
                bootstrap=0,
            )
        with open_store(db) as store:
            reports[judge_id] = judge_report(store, run_id=result.run_id, human=labels)
    return comparison_table(reports), {j: r.trust for j, r in reports.items()}


def _run_probe(
    outputs: tuple[str, ...],
    *,
    judges: str | None,
    target: str | None,
    injection: str,
    base_url: str | None,
    as_json: bool,
    ray_options: RayOptions | None,
) -> None:
    """The injection probe: judged in a throwaway store, so --db is left alone."""
    from judgekit.judges import registry
    from judgekit.judges.base import JudgeOptions
    from judgekit.runs.probes import INJECTIONS, injection_probe

    ids = [j.strip() for j in (judges or "").split(",") if j.strip()]
    if len(ids) != 1 or not outputs or target is None:
        raise click.UsageError("--probe needs one judge in --judges, OUTPUTS and --target MODEL")
    options = JudgeOptions(base_url=base_url)
    with judge_on_cluster(ids[0], judge_options=options, ray_options=ray_options) as judge:
        judge_obj = registry.get_judge(judge, options=options) if isinstance(judge, str) else judge
        report = injection_probe(
            list(outputs), judge=judge_obj, target=target, suffix=INJECTIONS[injection]
        )
    if report["comparisons"].eq(0).all():
        raise click.UsageError(f"--target {target!r} is not among the models in OUTPUTS")
    if as_json:
        print_json(json.loads(report.to_json(orient="records")))
        return
    table = Table(title=f"Injection probe · {ids[0]} · target {target} · {injection}")
    for column in report.columns:
        table.add_column(column)
    for row in report.itertuples(index=False):
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    stdout.print(table)
