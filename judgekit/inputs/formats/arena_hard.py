"""arena-hard-auto files: questions, model answers and pairwise judgments.

Two generations of the format are read; v2.0 is written.

- questions: v2.0 ``{"uid", "category", "subcategory", "prompt"}``; v0.1
  ``{"question_id", "category", "cluster", "turns": [{"content"}]}``.
- ``model_answer/<model>.jsonl``: v2.0 ``{"uid", "ans_id", "model", "messages", "tstamp",
  "metadata"}``, the answer being the last message's ``content["answer"]``; v0.1
  ``{"question_id", "answer_id", "model_id", "choices": [{"index", "turns": [{"content"}]}],
  "tstamp"}``.
- ``model_judgment/<judge>/<model>.jsonl``: v2.0 ``{"uid", "category", "judge", "model",
  "baseline", "games"}``; v0.1 ``{"question_id", "model", "judge", "games"}`` (the baseline
  is not named). Each judgment has two ``games``: game 1 shows the baseline as Assistant A,
  game 2 swaps the answers. A game's ``score`` is ``A>>B``, ``A>B``, ``A=B``, ``B>A`` or
  ``B>>A`` (also ``A<B``-style spellings), or null when no verdict was found.

arena-hard counts a strong verdict (``>>``) as three wins; :func:`arena_hard_battles`
reproduces that, while :func:`judgekit.protocols.debias.verdicts_to_outcomes` combines the two
games the judgekit way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.formats import (
    VERDICT_COLUMNS,
    claim,
    field,
    outputs_frame,
    records,
    string,
    text,
    write_jsonl,
)
from judgekit.rank.style_features import markdown_style

#: score label -> (winning position or "tie", strong)
SCORES: dict[str, tuple[str, bool]] = {
    "A>>B": ("A", True),
    "A>B": ("A", False),
    "A=B": ("tie", False),
    "B=A": ("tie", False),
    "B>A": ("B", False),
    "B>>A": ("B", True),
    "A<B": ("B", False),
    "A<<B": ("B", True),
    "B<A": ("A", False),
    "B<<A": ("A", True),
}
#: The weight arena-hard-auto's show_result gives a strong verdict.
STRONG_WEIGHT = 3


def _id(row: dict[str, Any], *, path: Path, line: int) -> str:
    return string(row, ("uid", "question_id"), path=path, line=line)


def _question(row: dict[str, Any], *, path: Path, line: int) -> str:
    if "prompt" in row:
        return string(row, "prompt", path=path, line=line)
    turns = field(row, "turns", path=path, line=line)
    if not isinstance(turns, list) or not turns:
        raise InputError("'turns' must be a non-empty list", path=str(path), line=line)
    first = turns[0].get("content") if isinstance(turns[0], dict) else turns[0]
    return text(first, name="turns[0].content", path=path, line=line)


def _answer(row: dict[str, Any], *, path: Path, line: int) -> str:
    if "messages" in row:
        messages = row["messages"]
        replies = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
        if not replies:
            raise InputError("no assistant message in 'messages'", path=str(path), line=line)
        content = replies[-1].get("content")
        content = content.get("answer") if isinstance(content, dict) else content
        return text(content, name="messages[-1].content.answer", path=path, line=line)
    choices = field(row, "choices", path=path, line=line)
    try:
        turn = choices[0]["turns"][0]
    except (TypeError, KeyError, IndexError):
        raise InputError("'choices' has no turn", path=str(path), line=line) from None
    return text(
        turn.get("content") if isinstance(turn, dict) else turn,
        name="choices",
        path=path,
        line=line,
    )


def read_arena_hard(question_file: str | Path, answer_files: Sequence[str | Path]) -> pd.DataFrame:
    """arena-hard questions and model answers (v0.1 or v2.0) as an outputs frame.

    Raises:
        InputError: malformed files, missing fields, answers to unknown questions or a model
            answering a question twice, naming the file and line.
    """
    qpath = Path(question_file)
    questions = {}
    for line, row in records(qpath):
        questions[_id(row, path=qpath, line=line)] = {
            "prompt": _question(row, path=qpath, line=line),
            "category": row.get("category"),
        }
    rows = []
    seen: dict[tuple[str, str], str] = {}
    for answer_file in answer_files:
        apath = Path(answer_file)
        for line, row in records(apath):
            uid = _id(row, path=apath, line=line)
            if uid not in questions:
                raise InputError(f"answer to unknown question {uid!r}", path=str(apath), line=line)
            model = row.get("model") or row.get("model_id") or apath.stem
            claim(seen, uid, str(model), path=apath, line=line)
            rows.append(
                {
                    "prompt_id": uid,
                    **questions[uid],
                    "reference": None,
                    "model": str(model),
                    "output": _answer(row, path=apath, line=line),
                }
            )
    return outputs_frame(rows)


def _count(value: Any, *, name: str, path: Path, line: int) -> float:
    """A style count: a number, or a mapping of numbers summed (``{"h1": 2, "h2": 1}``)."""
    try:
        if isinstance(value, dict):
            return float(sum(float(v) for v in value.values()))
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} {value!r} is not a count", path=str(path), line=line) from None


def read_arena_hard_answer_metadata(answer_files: Sequence[str | Path]) -> pd.DataFrame:
    """Per answer: ``model``, ``prompt_id``, ``token_len``, ``header_count``,
    ``list_count`` and ``bold_count``, as arena-hard's style control and ``avg_tokens``
    read them.

    Counts come from v0.1's ``conv_metadata`` (``token_len`` also from the turn) or v2.0's
    ``metadata``; an answer without them is counted from its text by
    :func:`judgekit.rank.style.markdown_style` (word-and-punctuation tokens, not the
    tiktoken count arena-hard stores).
    """
    rows = []
    for answer_file in answer_files:
        apath = Path(answer_file)
        for line, row in records(apath):
            uid = _id(row, path=apath, line=line)
            model = str(row.get("model") or row.get("model_id") or apath.stem)
            meta = row.get("conv_metadata") or row.get("metadata")
            counts: dict[str, float] = {}
            if isinstance(meta, dict) and all(
                k in meta for k in ("header_count", "list_count", "bold_count")
            ):
                for key in ("header_count", "list_count", "bold_count"):
                    counts[key] = _count(meta[key], name=key, path=apath, line=line)
                turn = (row.get("choices") or [{}])[0].get("turns", [{}])[0]
                tokens = turn.get("token_len") if isinstance(turn, dict) else None
                tokens = tokens if tokens is not None else meta.get("token_len")
                if tokens is None:
                    raise InputError("no token_len in the answer", path=str(apath), line=line)
                counts["token_len"] = _count(tokens, name="token_len", path=apath, line=line)
            else:
                style = markdown_style(_answer(row, path=apath, line=line))
                counts = {
                    "token_len": float(style["length"]),
                    "header_count": float(style["header_count"]),
                    "list_count": float(style["list_count"]),
                    "bold_count": float(style["bold_count"]),
                }
            rows.append({"model": model, "prompt_id": uid, **counts})
    columns = ["model", "prompt_id", "token_len", "header_count", "list_count", "bold_count"]
    return pd.DataFrame(rows, columns=columns)


def write_arena_hard_questions(outputs: pd.DataFrame, path: str | Path) -> Path:
    """``question.jsonl`` in the v2.0 fields."""
    items = outputs.drop_duplicates("prompt_id").sort_values("prompt_id", kind="stable")
    rows = [
        {
            "uid": r["prompt_id"],
            "category": r.get("category") if isinstance(r.get("category"), str) else "judgekit",
            "subcategory": "",
            "prompt": r["prompt"],
        }
        for r in items.to_dict("records")
    ]
    return write_jsonl(rows, path)


def write_arena_hard_answers(outputs: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``model_answer/<model>.jsonl`` files in the v2.0 fields.

    ``metadata`` holds the style counts that arena-hard's style control reads; its
    ``token_len`` counts words and punctuation (no tokenizer is assumed).
    """
    written = []
    for model, group in outputs.groupby("model", sort=True):
        rows = []
        for r in group.to_dict("records"):
            style = markdown_style(str(r["output"]))
            rows.append(
                {
                    "uid": r["prompt_id"],
                    "ans_id": f"{model}:{r['prompt_id']}",
                    "model": model,
                    "messages": [
                        {"role": "user", "content": r["prompt"]},
                        {"role": "assistant", "content": {"answer": r["output"]}},
                    ],
                    "tstamp": time.time(),
                    "metadata": {
                        "token_len": style["length"],
                        "header_count": style["header_count"],
                        "list_count": style["list_count"],
                        "bold_count": style["bold_count"],
                    },
                }
            )
        written.append(write_jsonl(rows, Path(directory) / f"{model}.jsonl"))
    return written


def _game_winner(score: Any, *, game: int, path: Path, line: int) -> tuple[str, int]:
    """(winner in model terms, strength) of one game; model_a is the baseline."""
    if score is None:
        return "error", 1
    label = str(score).strip().upper()
    if label not in SCORES:
        raise InputError(
            f"game {game} score {score!r} is not one of {', '.join(SCORES)}",
            path=str(path),
            line=line,
        )
    position, strong = SCORES[label]
    if position == "tie":
        return "tie", 1
    # Game 1 shows the baseline (model_a) as A; game 2 shows the judged model (model_b) as A.
    a_is_model_a = game == 1
    winner = "model_a" if (position == "A") == a_is_model_a else "model_b"
    return winner, 2 if strong else 1


def read_arena_hard_judgments(
    paths: Sequence[str | Path], *, baseline: str | None = None
) -> pd.DataFrame:
    """Judgment files as a verdicts frame, two rows (games) per judgment.

    model_a is the baseline and model_b the judged model; game 1 is order ``ab``, game 2
    ``ba``. Extra columns: ``strength`` (2 for ``>>``, else 1) and ``category``.

    Args:
        paths: ``model_judgment/<judge>/<model>.jsonl`` files.
        baseline: the baseline's name for v0.1 files, which do not record it (arena-hard
            v0.1 used ``gpt-4-0314``); v2.0 files name it in each row.
    """
    rows = []
    for path in paths:
        p = Path(path)
        for line, row in records(p):
            base = row.get("baseline") or baseline
            if not base:
                raise InputError(
                    "the judgment does not name its baseline; pass baseline= "
                    "(arena-hard v0.1 used gpt-4-0314)",
                    path=str(p),
                    line=line,
                )
            games = field(row, "games", path=p, line=line)
            if not isinstance(games, list) or len(games) != 2:
                raise InputError("'games' must hold the two games", path=str(p), line=line)
            for game, order in ((1, "ab"), (2, "ba")):
                record = games[game - 1] if isinstance(games[game - 1], dict) else {}
                winner, strength = _game_winner(record.get("score"), game=game, path=p, line=line)
                raw = record.get("judgment")
                rows.append(
                    {
                        "prompt_id": _id(row, path=p, line=line),
                        "model_a": str(base),
                        "model_b": string(row, "model", path=p, line=line),
                        "position_order": order,
                        "winner": winner,
                        "judge": str(row.get("judge") or ""),
                        "raw": raw.get("answer", "") if isinstance(raw, dict) else str(raw or ""),
                        "strength": strength,
                        "category": row.get("category"),
                    }
                )
    return pd.DataFrame(rows, columns=[*VERDICT_COLUMNS, "strength", "category"])


def arena_hard_battles(
    verdicts: pd.DataFrame, *, strong_weight: int = STRONG_WEIGHT
) -> pd.DataFrame:
    """One battle per game, as arena-hard-auto scores them: a ``>>`` verdict weighs
    ``strong_weight``; judgments with a failed game are left out, as arena-hard drops them.

    Returns an outcomes frame (win_a, win_b, tie, weight; flipped is False).
    """
    keys = ["prompt_id", "model_a", "model_b"]
    failed = verdicts.groupby(keys)["winner"].transform(lambda w: (w == "error").any())
    usable = verdicts[~failed.astype(bool)]
    winner = usable["winner"]
    strength = usable["strength"] if "strength" in usable else 1
    return pd.DataFrame(
        {
            "prompt_id": usable["prompt_id"].to_numpy(),
            "model_a": usable["model_a"].to_numpy(),
            "model_b": usable["model_b"].to_numpy(),
            "win_a": (winner == "model_a").astype(float).to_numpy(),
            "win_b": (winner == "model_b").astype(float).to_numpy(),
            "tie": (winner == "tie").astype(float).to_numpy(),
            "flipped": False,
            "status": "ok",
            "weight": (pd.Series(strength, index=usable.index) == 2)
            .map({True: float(strong_weight), False: 1.0})
            .to_numpy(),
        }
    )


def write_arena_hard_judgments(
    verdicts: pd.DataFrame, directory: str | Path, *, baseline: str, judge: str = "judgekit"
) -> list[Path]:
    """``<directory>/<judge>/<model>.jsonl`` judgment files in the v2.0 fields.

    Comparisons without ``baseline`` are left out; the baseline is put in game 1's A slot
    whichever side of the comparison it was on. A ``strength`` column of 2 writes ``>>``.
    """
    keep = (verdicts["model_a"] == baseline) | (verdicts["model_b"] == baseline)
    frame = verdicts[keep]
    by_model: dict[str, list[dict[str, Any]]] = {}
    for (pid, model_a, model_b), group in frame.groupby(
        ["prompt_id", "model_a", "model_b"], sort=True
    ):
        base_is_a = model_a == baseline
        model = model_b if base_is_a else model_a
        orders = dict(zip(group["position_order"], group.to_dict("records"), strict=True))
        games = []
        # Game 1 shows the baseline first: that is order ab when the baseline is model_a.
        for game, order in ((1, "ab" if base_is_a else "ba"), (2, "ba" if base_is_a else "ab")):
            r = orders.get(order) or next(iter(orders.values()))
            games.append(
                {
                    "score": _score_label(r, baseline_is_a=base_is_a, game=game),
                    "judgment": {"answer": r.get("raw") or ""},
                    "prompt": None,
                }
            )
        first = group.iloc[0]
        by_model.setdefault(str(model), []).append(
            {
                "uid": pid,
                "category": first["category"] if isinstance(first.get("category"), str) else "",
                "judge": first.get("judge") or judge,
                "model": model,
                "baseline": baseline,
                "games": games,
            }
        )
    out_dir = Path(directory) / judge
    return [write_jsonl(rows, out_dir / f"{model}.jsonl") for model, rows in by_model.items()]


def _score_label(row: dict[str, Any], *, baseline_is_a: bool, game: int) -> str | None:
    winner = str(row["winner"])
    if winner == "error":
        return None
    if winner == "tie":
        return "A=B"
    baseline_won = (winner == "model_a") == baseline_is_a
    # Game 1: the baseline is A; game 2: the judged model is A.
    a_won = baseline_won if game == 1 else not baseline_won
    mark = ">>" if int(row.get("strength") or 1) == 2 else ">"
    return f"A{mark}B" if a_won else f"B{mark}A"
