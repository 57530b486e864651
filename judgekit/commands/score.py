"""``judgekit score``: a peer's own leaderboard from its judgment files, in its columns."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from judgekit.commands.common import print_json, stderr, stdout

SCORE_FORMATS = ("alpaca-eval", "arena-hard", "mtbench")
MTBENCH_MODES = ("single", "pairwise-baseline", "pairwise-all")
ARENA_HARD_V01_BASELINE = "gpt-4-0314"
MTBENCH_BASELINE = "gpt-3.5-turbo"


@click.command("score")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(SCORE_FORMATS))
@click.argument("paths", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of rows.")
@click.option(
    "-o", "--out", type=click.Path(dir_okay=False), help="Also write the board (.csv or .json)."
)
@click.option("--db", type=click.Path(dir_okay=False), help="Score a stored run instead.")
@click.option("--run", "run_id", default=None, help="Run id with --db (default: the latest).")
@click.option(
    "--baseline",
    default=None,
    help="alpaca-eval with --db: generator_1; arena-hard: the baseline of v0.1 files "
    f"(default {ARENA_HARD_V01_BASELINE}); mtbench pairwise-baseline "
    f"(default {MTBENCH_BASELINE}).",
)
@click.option(
    "--instruction-difficulty",
    "difficulty_file",
    type=click.Path(exists=True, dir_okay=False),
    help="alpaca-eval: AlpacaEval's instruction_difficulty.csv (by row); default: estimated "
    "jointly from the annotations given.",
)
@click.option(
    "--answers",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="arena-hard: model_answer/*.jsonl, for avg_tokens and style control (repeatable).",
)
@click.option(
    "--style-control",
    "control",
    flag_value="style",
    help="arena-hard: control for length and markdown.",
)
@click.option(
    "--length-control-only", "control", flag_value="length", help="arena-hard: length only."
)
@click.option(
    "--markdown-control-only", "control", flag_value="markdown", help="arena-hard: markdown only."
)
@click.option(
    "--show-result",
    "generation",
    type=click.Choice(["v0.1", "v2.0"]),
    default=None,
    help="arena-hard: whose show_result.py (default: the judgment files' generation).",
)
@click.option("--category", default=None, help="arena-hard: only this question category.")
@click.option("--first-game-only", is_flag=True, help="arena-hard v0.1: game 1 only.")
@click.option("--weight", default=3, show_default=True, help="arena-hard: a >> verdict's weight.")
@click.option("--rounds", default=100, show_default=True, help="arena-hard: bootstrap rounds.")
@click.option("--seed", default=42, show_default=True, help="arena-hard: bootstrap seed.")
@click.option(
    "--mode",
    type=click.Choice(MTBENCH_MODES),
    default=None,
    help="mtbench: single for *_single files, pairwise-baseline for pair files by default.",
)
@click.option("--model-list", multiple=True, help="mtbench: only these models (repeatable).")
def score(
    fmt: str,
    paths: tuple[str, ...],
    as_json: bool,
    out: str | None,
    db: str | None,
    run_id: str | None,
    baseline: str | None,
    difficulty_file: str | None,
    answers: tuple[str, ...],
    control: str | None,
    generation: str | None,
    category: str | None,
    first_game_only: bool,
    weight: int,
    rounds: int,
    seed: int,
    mode: str | None,
    model_list: tuple[str, ...],
) -> None:
    """Compute a peer's leaderboard from its judgment files, as the peer computes it.

    \b
      alpaca-eval  annotations.json files (one per model, one baseline) ->
                   win_rate, standard_error, n_wins, n_wins_base, n_draws, n_total,
                   discrete_win_rate, avg_length, length_controlled_winrate,
                   lc_standard_error (AlpacaEval 2's length-controlled GLM)
      arena-hard   model_judgment/JUDGE/*.jsonl -> model, score, lower, upper,
                   avg_tokens (show_result.py of the files' generation: v0.1's
                   Bradley-Terry against the baseline with 2.5/97.5 bootstrap
                   percentiles, or v2.0's bootstrapped mean scores with 5/95
                   percentiles; optional style control for both)
      mtbench      gpt-4_single.jsonl -> model, score_turn_1, score_turn_2, score;
                   gpt-4_pair.jsonl -> model, win, loss, tie, win_rate, loss_rate,
                   win_rate_adjusted (FastChat's show_result.py)

    \b
    Examples:
      judgekit score alpaca-eval results/*/weighted_alpaca_eval_gpt4_turbo/annotations.json
      judgekit score arena-hard model_judgment/gpt-4-1106-preview/*.jsonl \\
          --answers model_answer/*.jsonl --style-control --json
      judgekit score mtbench gpt-4_single.jsonl
      judgekit score mtbench gpt-4_pair.jsonl --mode pairwise-all
      judgekit score alpaca-eval --db judgekit.duckdb --baseline gpt4_1106_preview
    """
    if bool(paths) == bool(db):
        raise click.UsageError("give the peer's files, or --db (with --run) for a stored run")
    if db and fmt == "mtbench":
        raise click.UsageError("mtbench scores FastChat's judgment files; --db is not supported")
    if fmt == "alpaca-eval":
        board = _alpaca_eval(
            paths, db=db, run_id=run_id, baseline=baseline, difficulty=difficulty_file
        )
    elif fmt == "arena-hard":
        board = _arena_hard(
            paths,
            db=db,
            run_id=run_id,
            baseline=baseline,
            answers=answers,
            control=control,
            generation=generation,
            category=category,
            first_game_only=first_game_only,
            weight=weight,
            rounds=rounds,
            seed=seed,
        )
    else:
        board = _mtbench(paths, mode=mode, baseline=baseline, model_list=model_list)
    if out:
        _write(board, Path(out), fmt=fmt)
        stderr.print(f"wrote {out}", soft_wrap=True)
    if as_json:
        print_json(_rows(board))
    else:
        table = _table(board, title=f"{fmt} leaderboard")
        # Wide enough for every column whole: peers' names are long, and truncated
        # numbers would be worse than a wrapped line.
        cells = [board[c].map(_cell).str.len().max() for c in board.columns] or [0]
        need = sum(max(len(c), int(w)) + 3 for c, w in zip(board.columns, cells, strict=True))
        Console(width=max(stdout.width, need + 1)).print(table)


def _alpaca_eval(
    paths: tuple[str, ...],
    *,
    db: str | None,
    run_id: str | None,
    baseline: str | None,
    difficulty: str | None,
) -> pd.DataFrame:
    from judgekit.inputs.formats import alpaca_eval as ae
    from judgekit.rank.peers import alpaca_eval as peer

    table = ae.read_instruction_difficulty(difficulty) if difficulty else None
    if db:
        from judgekit.store import meta_queries as mq
        from judgekit.store import queries
        from judgekit.store.db import open_store

        if not baseline:
            raise click.UsageError("alpaca-eval with --db needs --baseline (generator_1)")
        with open_store(db, read_only=True) as store:
            run_id = run_id or queries.latest_run_id(store)
            outcomes = queries.outcomes(store, run_id=run_id)
            outputs = mq.outputs(store, run_id=run_id)
        board = ae.alpaca_eval_leaderboard(
            outcomes, baseline=baseline, outputs=outputs, difficulty=table
        )
        return board.drop(columns=["mode"])
    annotations = pd.concat([ae.read_alpaca_eval_preferences(p) for p in paths], ignore_index=True)
    return peer.alpaca_eval_leaderboard(annotations, difficulty=table)


def _arena_hard(
    paths: tuple[str, ...],
    *,
    db: str | None,
    run_id: str | None,
    baseline: str | None,
    answers: tuple[str, ...],
    control: str | None,
    generation: str | None,
    category: str | None,
    first_game_only: bool,
    weight: int,
    rounds: int,
    seed: int,
) -> pd.DataFrame:
    from judgekit.inputs.formats import arena_hard as ah
    from judgekit.rank.peers import arena_hard as peer
    from judgekit.rank.peers.arena_hard_v2 import arena_hard_v2_leaderboard

    if db:
        from judgekit.inputs.formats import store_verdict_winners
        from judgekit.store import meta_queries as mq
        from judgekit.store import queries
        from judgekit.store.db import open_store

        if not baseline:
            raise click.UsageError("arena-hard with --db needs --baseline")
        with open_store(db, read_only=True) as store:
            run_id = run_id or queries.latest_run_id(store)
            stored = mq.verdicts(store, run_id=run_id)
        verdicts = _baseline_first(store_verdict_winners(stored), baseline)
    else:
        verdicts = ah.read_arena_hard_judgments(
            list(paths), baseline=baseline or ARENA_HARD_V01_BASELINE
        )
        if category is not None:
            verdicts = verdicts[verdicts["category"] == category]
            if verdicts.empty:
                raise click.UsageError(f"no judgment of the category {category!r}")
        bases = verdicts["model_a"].unique()
        if len(bases) > 1:
            raise click.UsageError(
                f"the judgments name several baselines ({', '.join(bases)}): pick a --category"
            )
        baseline = str(bases[0])
        generation = generation or _generation(paths[0])
    metadata = ah.read_arena_hard_answer_metadata(list(answers)) if answers else None
    if control and metadata is None:
        raise click.UsageError("style control needs the answers: pass --answers FILES")
    avg = (
        {m: int(g["token_len"].mean()) for m, g in metadata.groupby("model")}
        if metadata is not None
        else None
    )
    if generation == "v2.0":
        if first_game_only:
            raise click.UsageError("--first-game-only is an option of v0.1's show_result.py")
        return arena_hard_v2_leaderboard(
            verdicts,
            baseline=baseline,
            weight=weight,
            rounds=rounds,
            seed=seed,
            control=control,
            metadata=metadata,
            avg_tokens=avg,
        )
    return peer.arena_hard_leaderboard(
        verdicts,
        baseline=baseline,
        weight=weight,
        first_game_only=first_game_only,
        rounds=rounds,
        seed=seed,
        control=control,
        metadata=metadata,
        avg_tokens=avg,
    )


def _generation(path: str) -> str:
    """v2.0 judgment files carry ``uid`` and name their baseline; v0.1 ones do not."""
    from judgekit.inputs.formats import records

    first = records(path)[0][1]
    return "v2.0" if "uid" in first or "baseline" in first else "v0.1"


def _baseline_first(verdicts: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Stored verdicts turned so that the baseline is model_a and game 1 shows it first."""
    keep = (verdicts["model_a"] == baseline) | (verdicts["model_b"] == baseline)
    frame = verdicts[keep].copy()
    swap = (frame["model_b"] == baseline).to_numpy()
    a, b = frame["model_a"].to_numpy().copy(), frame["model_b"].to_numpy().copy()
    frame["model_a"] = [baseline] * len(frame)
    frame["model_b"] = [y if not s else x for x, y, s in zip(a, b, swap, strict=True)]
    flip = {"model_a": "model_b", "model_b": "model_a"}
    frame["winner"] = [
        flip.get(w, w) if s else w for w, s in zip(frame["winner"], swap, strict=True)
    ]
    order = frame["position_order"].to_numpy()
    frame["position_order"] = [
        ({"ab": "ba", "ba": "ab"}[o] if s else o) for o, s in zip(order, swap, strict=True)
    ]
    frame["strength"] = 1  # the store keeps no verdict strength: every game weighs 1
    frame = frame.sort_values(["prompt_id", "model_b", "position_order"], kind="stable")
    if frame.empty:
        raise click.UsageError(f"no stored comparison involves the baseline {baseline!r}")
    return frame.reset_index(drop=True)


def _mtbench(
    paths: tuple[str, ...],
    *,
    mode: str | None,
    baseline: str | None,
    model_list: tuple[str, ...],
) -> pd.DataFrame:
    from judgekit.inputs.formats import mtbench as mt
    from judgekit.rank.peers import mtbench as peer

    single = [_is_single(p) for p in paths]
    if any(single) and not all(single):
        raise click.UsageError("mix of single-grade and pair judgment files; score them apart")
    mode = mode or ("single" if single[0] else "pairwise-baseline")
    if mode == "single":
        if not single[0]:
            raise click.UsageError("--mode single needs single-grade files (gpt-4_single.jsonl)")
        scores = pd.concat([mt.read_mtbench_single_judgments(p) for p in paths], ignore_index=True)
        if model_list:
            scores = scores[scores["model"].isin(model_list)]
        return peer.single_board(scores)
    if single[0]:
        raise click.UsageError(f"--mode {mode} needs pair judgment files (gpt-4_pair.jsonl)")
    judgments = pd.concat(
        [peer.judgments_from_verdicts(mt.read_mtbench_pair_judgments(p)) for p in paths],
        ignore_index=True,
    )
    return peer.pairwise_board(
        judgments,
        baseline=(baseline or MTBENCH_BASELINE) if mode == "pairwise-baseline" else None,
        models=list(model_list) or None,
    )


def _is_single(path: str) -> bool:
    from judgekit.inputs.formats import records

    first = records(path)[0][1]
    return "score" in first and "g1_winner" not in first


def _rows(board: pd.DataFrame) -> list[dict[str, Any]]:
    rows = board.to_dict("records")
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else _plain(v)) for k, v in r.items()}
        for r in rows
    ]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _write(board: pd.DataFrame, path: Path, *, fmt: str) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(_rows(board), indent=2) + "\n")
    elif fmt == "alpaca-eval":
        # AlpacaEval's own CSV: model names in an unnamed first column.
        board.set_index("model").rename_axis(None).to_csv(path)
    else:
        board.to_csv(path, index=False)


def _table(board: pd.DataFrame, *, title: str) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in board.columns:
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in board.to_dict("records"):
        table.add_row(*(_cell(v) for v in row.values()))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.2f}"
    return str(value)
