"""``judgekit import`` and ``judgekit export``: peer formats in, runs and tables out."""

from __future__ import annotations

import click
import pandas as pd

from judgekit.commands.common import stderr

IMPORT_FORMATS = (
    "mtbench",
    "mtbench-judgments",
    "mtbench-human",
    "arena-hard",
    "arena-hard-judgments",
    "alpaca-eval",
    "alpaca-eval-annotations",
    "alpaca-eval-leaderboard",
    "chatbot-arena",
)
#: What each format can give, the first being the default.
WHATS = {
    "mtbench": ("outputs",),
    "mtbench-judgments": ("outcomes", "verdicts", "scores"),
    "mtbench-human": ("labels", "outputs"),
    "arena-hard": ("outputs",),
    "arena-hard-judgments": ("outcomes", "verdicts", "battles"),
    "alpaca-eval": ("outputs",),
    "alpaca-eval-annotations": ("outcomes", "labels"),
    "alpaca-eval-leaderboard": ("leaderboard",),
    "chatbot-arena": ("outcomes", "labels", "outputs"),
}
#: Formats whose outcomes can be stored as a run with --db.
STORABLE = {"mtbench-judgments", "arena-hard-judgments", "alpaca-eval-annotations", "chatbot-arena"}


def read_format(
    fmt: str,
    paths: list[str],
    *,
    what: str | None = None,
    questions: str | None = None,
    turn: int | None = None,
    baseline: str | None = None,
) -> tuple[str, pd.DataFrame, pd.DataFrame | None]:
    """Read peer files: ``(what, frame, verdicts)``; verdicts only for judgment formats.

    Raises:
        click.UsageError: a needed option is missing or ``what`` does not fit the format.
    """
    from judgekit.inputs.formats import alpaca_eval as ae
    from judgekit.inputs.formats import arena_hard as ah
    from judgekit.inputs.formats import chatbot_arena as ca
    from judgekit.inputs.formats import mtbench as mt
    from judgekit.protocols.debias import verdicts_to_outcomes

    what = what or WHATS[fmt][0]
    if what not in WHATS[fmt]:
        raise click.UsageError(f"{fmt} gives {', '.join(WHATS[fmt])}, not {what}")
    if fmt in ("mtbench", "arena-hard") and not questions:
        raise click.UsageError(f"{fmt} needs --questions (the question.jsonl file)")
    if fmt == "mtbench":
        return what, mt.read_mtbench(questions or "", paths, turn=turn), None
    if fmt == "arena-hard":
        return what, ah.read_arena_hard(questions or "", paths), None
    if fmt == "mtbench-judgments" and (what == "scores" or _is_single(paths[0])):
        frames = [mt.read_mtbench_single_judgments(p) for p in paths]
        return "scores", pd.concat(frames, ignore_index=True), None
    if fmt == "mtbench-judgments":
        verdicts = pd.concat([mt.read_mtbench_pair_judgments(p) for p in paths], ignore_index=True)
        frame = verdicts if what == "verdicts" else verdicts_to_outcomes(verdicts)
        return what, frame, verdicts
    if fmt == "arena-hard-judgments":
        verdicts = ah.read_arena_hard_judgments(paths, baseline=baseline)
        if what == "battles":
            return what, ah.arena_hard_battles(verdicts), verdicts
        frame = verdicts if what == "verdicts" else verdicts_to_outcomes(verdicts)
        return what, frame, verdicts
    if fmt == "mtbench-human":
        labels = pd.concat([mt.read_mtbench_human_judgments(p) for p in paths], ignore_index=True)
        if what == "outputs":
            return what, mt.outputs_from_human_judgments(labels), None
        return what, labels.drop(columns=["conversation_a", "conversation_b"]), None
    if fmt == "alpaca-eval":
        frames = [ae.read_alpaca_eval_outputs(p) for p in paths]
        return what, pd.concat(frames, ignore_index=True), None
    if fmt == "alpaca-eval-annotations":
        frame = pd.concat([ae.read_alpaca_eval_annotations(p) for p in paths], ignore_index=True)
        if what == "labels":
            from judgekit.inputs.human import load_human_labels

            frames = [load_human_labels(p, format="alpaca_eval").pairs for p in paths]
            return what, pd.concat(frames, ignore_index=True), None
        return what, frame, None
    if fmt == "alpaca-eval-leaderboard":
        frames = [ae.read_alpaca_eval_leaderboard(p) for p in paths]
        return what, pd.concat(frames, ignore_index=True), None
    battles = pd.concat([ca.read_battles(p) for p in paths], ignore_index=True)
    if what == "outputs":
        return what, ca.outputs_from_battles(battles), None
    if what == "labels":
        from judgekit.inputs.human import HUMAN_LABEL_COLUMNS

        labels = battles.rename(columns={"judge": "annotator"})
        labels["winner"] = labels["winner"].replace({"tie (bothbad)": "tie", "both_bad": "tie"})
        return what, labels[HUMAN_LABEL_COLUMNS], None
    return what, battles.drop(columns=["conversation_a", "conversation_b"], errors="ignore"), None


def _is_single(path: str) -> bool:
    """Whether an MT-Bench judgment file holds single-answer grades (gpt-4_single.jsonl)."""
    from judgekit.inputs.formats import records

    first = records(path)[0][1]
    return "score" in first and "model" in first and "g1_winner" not in first


def _outputs_frame(path: str) -> pd.DataFrame:
    from judgekit.inputs.outputs import load_outputs

    data = load_outputs([path])
    return pd.DataFrame(
        [
            {
                "prompt_id": c.prompt_id,
                "prompt": data.items[c.prompt_id].prompt,
                "model": c.model,
                "output": c.output,
                "reference": data.items[c.prompt_id].reference,
                "category": data.items[c.prompt_id].category,
            }
            for c in data.candidates
        ]
    )


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(IMPORT_FORMATS))
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    "out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the imported table here (.jsonl, .csv or .parquet).",
)
@click.option(
    "--db",
    default=None,
    type=click.Path(dir_okay=False),
    help="Store imported judgments as a run in this DuckDB store (judgment formats).",
)
@click.option(
    "--what",
    default=None,
    help="What to take from the files: outputs, outcomes, verdicts, labels, battles or "
    "leaderboard (default: the format's main table).",
)
@click.option("--questions", default=None, type=click.Path(dir_okay=False), help="question.jsonl")
@click.option(
    "--turn",
    default=None,
    type=click.IntRange(1, 2),
    help="MT-Bench answers: 1 keeps the first turn only, 2 flattens both turns into one "
    "transcript; by default every turn is kept as a conversation (a messages column), "
    "which compare and grade judge turn by turn.",
)
@click.option("--baseline", default=None, help="arena-hard v0.1 baseline (gpt-4-0314 there).")
@click.option(
    "--outputs",
    "outputs_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="With --db: the judged answers (an outputs file), for length and style figures.",
)
@click.option("--judge", "judge_name", default=None, help="With --db: the judge's name.")
def import_(
    fmt: str,
    paths: tuple[str, ...],
    out: str | None,
    db: str | None,
    what: str | None,
    questions: str | None,
    turn: int | None,
    baseline: str | None,
    outputs_path: str | None,
    judge_name: str | None,
) -> None:
    """Read peer-format files (FastChat MT-Bench, arena-hard-auto, AlpacaEval, Chatbot Arena)
    into judgekit's tables.

    \b
    Formats and what they give:
      mtbench                  model answers (--questions question.jsonl) -> outputs
      mtbench-judgments        gpt-4_pair.jsonl -> outcomes | verdicts;
                               gpt-4_single.jsonl -> scores
      mtbench-human            human judgments -> labels | outputs
      arena-hard               model answers (--questions question.jsonl) -> outputs
      arena-hard-judgments     model_judgment files -> outcomes | verdicts | battles
      alpaca-eval              model_outputs.json -> outputs
      alpaca-eval-annotations  annotations.json -> outcomes | labels
      alpaca-eval-leaderboard  leaderboard CSV -> leaderboard
      chatbot-arena            battles -> outcomes | labels | outputs

    \b
    Example:
      judgekit import mtbench --questions question.jsonl model_answer/*.jsonl -o outputs.jsonl
      judgekit import mtbench-judgments gpt-4_pair.jsonl --db judgekit.duckdb
    """
    from judgekit.inputs.formats import write_frame
    from judgekit.store.db import open_store
    from judgekit.views.export import import_run

    if out is None and db is None:
        raise click.UsageError("say where the import goes: -o FILE and/or --db STORE")
    if db is not None and fmt not in STORABLE:
        raise click.UsageError(f"--db stores judgments; {fmt} holds none (use -o)")
    if out is not None and out.lower().endswith(".csv") and fmt == "mtbench" and turn is None:
        raise click.UsageError(
            "a CSV cell cannot hold a conversation: write the MT-Bench import as .jsonl or "
            ".parquet, or pass --turn 1 for the first turn only"
        )
    kind, frame, verdicts = read_format(
        fmt, list(paths), what=what, questions=questions, turn=turn, baseline=baseline
    )
    if db is not None and kind not in ("outcomes", "verdicts"):
        # Pointwise grades, labels and answers are files to pass on, not a pairwise run.
        raise click.UsageError(f"--db stores judgments; --what {kind} has none (use -o)")
    if out is not None:
        write_frame(frame, out)
        stderr.print(f"wrote {len(frame)} {kind} rows to {out}", soft_wrap=True)
    if db is not None:
        from judgekit.protocols.debias import verdicts_to_outcomes

        if kind == "outcomes":
            outcomes = frame
        else:
            assert verdicts is not None  # kind == "verdicts"
            outcomes = verdicts_to_outcomes(verdicts)
        judge = judge_name or _judge_of(outcomes, verdicts) or fmt
        answers = _outputs_frame(outputs_path) if outputs_path else None
        with open_store(db) as store:
            run_id = import_run(
                store,
                outcomes=outcomes,
                verdicts=verdicts,
                outputs=answers,
                source=", ".join(paths),
                judge=judge,
            )
        stderr.print(f"stored {len(outcomes)} comparisons as run {run_id} in {db}", soft_wrap=True)


def _judge_of(*frames: pd.DataFrame | None) -> str | None:
    for frame in frames:
        if frame is not None and "judge" in frame and frame["judge"].nunique() == 1:
            name = str(frame["judge"].iloc[0])
            if name:
                return name
    return None


@click.command("export")
@click.option(
    "--db",
    default="judgekit.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False, exists=True),
    help="DuckDB store to read.",
)
@click.option("--run", "run_id", default=None, help="Run id (default: the latest finished run).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(
        ["csv", "parquet", "jsonl", "battles", "alpaca-eval", "mtbench", "arena-hard"]
    ),
    required=True,
    help="File format: a table as csv/parquet/jsonl, or a peer format.",
)
@click.option(
    "--table",
    type=click.Choice(["outcomes", "verdicts", "ratings"]),
    default="outcomes",
    show_default=True,
    help="Which table to write as csv/parquet/jsonl.",
)
@click.option(
    "--method", default="bt", show_default=True, help="Rating method for --table ratings."
)
@click.option(
    "--baseline", default=None, help="Baseline model (arena-hard; AlpacaEval's generator_1)."
)
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(),
    help="File to write (a folder for arena-hard).",
)
def export(
    db: str,
    run_id: str | None,
    fmt: str,
    table: str,
    method: str,
    baseline: str | None,
    out: str,
) -> None:
    """Write a stored run's comparisons or ratings as CSV, Parquet, JSONL, Chatbot Arena
    battles, AlpacaEval annotations, MT-Bench pair judgments or arena-hard judgments.

    \b
    Example:
      judgekit export --db judgekit.duckdb --format battles -o battles.jsonl
      judgekit export --format csv --table ratings -o leaderboard.csv
    """
    from judgekit.store import queries
    from judgekit.store.db import open_store
    from judgekit.views.export import export_run

    with open_store(db, read_only=True) as store:
        run_id = run_id or queries.latest_run_id(store)
        written = export_run(
            store, run_id=run_id, path=out, fmt=fmt, table=table, method=method, baseline=baseline
        )
    for path in written:
        stderr.print(f"wrote {path}", soft_wrap=True)
