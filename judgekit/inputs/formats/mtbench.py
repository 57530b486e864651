"""FastChat MT-Bench (``fastchat/llm_judge``) files.

- ``question.jsonl``: ``question_id``, ``category``, ``turns`` (the user turns) and, for
  math, reasoning and coding, an optional ``reference`` list;
- ``model_answer/<model>.jsonl``: ``question_id``, ``answer_id``, ``model_id``, ``choices``
  (``[{"index": 0, "turns": [answer, ...]}]``) and ``tstamp``;
- ``model_judgment/gpt-4_pair.jsonl``: ``question_id``, ``model_1``, ``model_2``,
  ``g1_winner`` and ``g2_winner`` (``model_1``, ``model_2``, ``tie`` or ``error``; game 1
  shows model_1 first, game 2 swaps them), ``judge`` (``[model, prompt name]``),
  ``g1_user_prompt``, ``g1_judgment``, ``g2_user_prompt``, ``g2_judgment``, ``turn``, ``tstamp``;
- ``model_judgment/gpt-4_single.jsonl``: ``question_id``, ``model``, ``judge``,
  ``user_prompt``, ``judgment``, ``score`` (1-10, -1 when no rating was found), ``turn``,
  ``tstamp``;
- the human judgments (``human_judgments.json``, or the ``lmsys/mt_bench_human_judgments``
  dataset as JSONL or Parquet): ``question_id``, ``model_a``, ``model_b``, ``winner``
  (``model_a``, ``model_b``, ``tie``, ``tie (bothbad)``), ``judge`` (``expert_0``,
  ``author_2`` ...), ``conversation_a``, ``conversation_b`` and ``turn``.

By default :func:`read_mtbench` keeps every turn: each row carries the conversation as an
OpenAI ``messages`` list (and the per-turn references as a list), and ``judgekit compare``
and ``grade`` judge turn 2 with turn 1 in view, storing verdicts per turn under the
question id. ``turn=1`` keeps the first turn only; ``turn=2`` flattens the conversation
into one single-turn prompt, ``Turn 1:``/``Turn 2:`` transcripts under prompt id
``<question_id>-turn2`` (:func:`mtbench_prompt_id`), as judgment files name that turn.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from judgekit.errors import InputError
from judgekit.inputs.conversation import conversation_messages
from judgekit.inputs.formats import (
    OUTPUT_COLUMNS,
    VERDICT_COLUMNS,
    claim,
    field,
    outputs_frame,
    records,
    string,
    text,
    write_jsonl,
)
from judgekit.inputs.labels import HUMAN_LABEL_COLUMNS, normalise_winner

_TURN_ID = re.compile(r"^(?P<qid>.+)-turn(?P<turn>\d+)$")
_PAIR_WINNERS = {"model_1": "model_a", "model_2": "model_b", "tie": "tie", "error": "error"}


def mtbench_prompt_id(question_id: Any, turn: int = 1) -> str:
    """The judgekit prompt id of an MT-Bench question at one turn (``81``, ``81-turn2``)."""
    qid = str(int(question_id)) if isinstance(question_id, float) else str(question_id)
    return qid if turn == 1 else f"{qid}-turn{turn}"


def split_prompt_id(prompt_id: str) -> tuple[int | str, int]:
    """``(question_id, turn)`` of a prompt id; numeric ids come back as ints, as FastChat has."""
    match = _TURN_ID.match(prompt_id)
    qid, turn = (match["qid"], int(match["turn"])) if match else (prompt_id, 1)
    return (int(qid) if qid.isdigit() else qid), turn


def conversation_text(user: Sequence[str], assistant: Sequence[str] | None = None) -> str:
    """A multi-turn transcript: ``Turn 1:`` blocks, for the prompt or for an answer."""
    parts = assistant if assistant is not None else user
    return "\n\n".join(f"Turn {k}:\n{t}" for k, t in enumerate(parts, start=1))


def _turns(value: Any, *, name: str, path: Path, line: int) -> list[str]:
    if not isinstance(value, list) or not value:
        raise InputError(f"{name!r} must be a non-empty list", path=str(path), line=line)
    out = []
    for turn in value:
        # arena-hard v0.1 stores turns as {"content": ...}; MT-Bench as plain strings.
        turn = turn.get("content") if isinstance(turn, dict) else turn
        out.append(text(turn, name=name, path=path, line=line))
    return out


def _pick_turns(turns: list[str], turn: int, *, name: str, path: Path, line: int) -> str:
    if len(turns) < turn:
        raise InputError(f"{name!r} has no turn {turn}", path=str(path), line=line)
    return turns[0] if turn == 1 else conversation_text(turns[:turn])


def _turn(value: Any, *, path: Path, line: int) -> int:
    """MT-Bench's ``turn``: 1 or 2 (a number or its text), else an error naming the line."""
    if isinstance(value, bool) or str(value).strip() not in ("1", "2", "1.0", "2.0"):
        raise InputError(f"turn {value!r} must be 1 or 2", path=str(path), line=line)
    return int(float(str(value).strip()))


def read_mtbench(
    question_file: str | Path, answer_files: Sequence[str | Path], *, turn: int | None = None
) -> pd.DataFrame:
    """MT-Bench questions and model answers as an outputs frame.

    Args:
        question_file: ``question.jsonl``.
        answer_files: ``model_answer/<model>.jsonl`` files; the model is ``model_id``, or the
            file's stem when absent (FastChat names models by file).
        turn: None keeps every turn (a ``messages`` column holds each conversation, and
            ``reference`` the per-turn references as a list); 1 keeps the first turn only;
            2 flattens the two-turn conversation into a single-turn transcript.

    Raises:
        InputError: malformed files, missing fields, answers to unknown questions, a model
            answering one question twice, or answering a different number of turns than
            the question has; the message names the file and line.
    """
    if turn is None:
        return _read_conversations(question_file, answer_files)
    if turn not in (1, 2):
        raise InputError(f"MT-Bench has turns 1 and 2, not {turn}")
    qpath = Path(question_file)
    questions: dict[str, dict[str, Any]] = {}
    for line, row in records(qpath):
        qid = string(row, "question_id", path=qpath, line=line)
        turns = _turns(
            field(row, "turns", path=qpath, line=line), name="turns", path=qpath, line=line
        )
        refs = row.get("reference")
        reference = None
        if isinstance(refs, list) and len(refs) >= turn:
            ref_turns = [str(r) for r in refs]
            reference = ref_turns[0] if turn == 1 else conversation_text(ref_turns[:turn])
        questions[qid] = {
            "prompt_id": mtbench_prompt_id(qid, turn),
            "prompt": _pick_turns(turns, turn, name="turns", path=qpath, line=line),
            "reference": reference,
            "category": row.get("category"),
        }
    rows = []
    seen: dict[tuple[str, str], str] = {}
    for answer_file in answer_files:
        apath = Path(answer_file)
        for line, row in records(apath):
            qid = string(row, "question_id", path=apath, line=line)
            if qid not in questions:
                raise InputError(f"answer to unknown question {qid}", path=str(apath), line=line)
            model = row.get("model_id") or apath.stem
            choices = field(row, "choices", path=apath, line=line)
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                raise InputError("'choices' must be a list of objects", path=str(apath), line=line)
            turns = _turns(choices[0].get("turns"), name="choices[0].turns", path=apath, line=line)
            output = _pick_turns(turns, turn, name="choices[0].turns", path=apath, line=line)
            claim(seen, questions[qid]["prompt_id"], str(model), path=apath, line=line)
            rows.append({**questions[qid], "model": str(model), "output": output})
    return outputs_frame(rows)


def _read_conversations(
    question_file: str | Path, answer_files: Sequence[str | Path]
) -> pd.DataFrame:
    """Every turn of every answer: :func:`read_mtbench` with ``turn=None``."""
    qpath = Path(question_file)
    questions: dict[str, dict[str, Any]] = {}
    for line, row in records(qpath):
        qid = string(row, "question_id", path=qpath, line=line)
        turns = _turns(
            field(row, "turns", path=qpath, line=line), name="turns", path=qpath, line=line
        )
        refs = row.get("reference")
        questions[qid] = {
            "turns": turns,
            "reference": [str(r) for r in refs] if isinstance(refs, list) and refs else None,
            "category": row.get("category"),
        }
    rows = []
    seen: dict[tuple[str, str], str] = {}
    for answer_file in answer_files:
        apath = Path(answer_file)
        for line, row in records(apath):
            qid = string(row, "question_id", path=apath, line=line)
            if qid not in questions:
                raise InputError(f"answer to unknown question {qid}", path=str(apath), line=line)
            model = str(row.get("model_id") or apath.stem)
            choices = field(row, "choices", path=apath, line=line)
            if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                raise InputError("'choices' must be a list of objects", path=str(apath), line=line)
            answers = _turns(
                choices[0].get("turns"), name="choices[0].turns", path=apath, line=line
            )
            question = questions[qid]
            if len(answers) != len(question["turns"]):
                raise InputError(
                    f"model {model!r} answers {len(answers)} turn(s) of question {qid}, which "
                    f"has {len(question['turns'])} ({qpath})",
                    path=str(apath),
                    line=line,
                )
            prompt_id = mtbench_prompt_id(qid)
            claim(seen, prompt_id, model, path=apath, line=line)
            rows.append(
                {
                    "prompt_id": prompt_id,
                    "prompt": question["turns"][0],
                    "model": model,
                    "output": answers[0],
                    "reference": question["reference"],
                    "category": question["category"],
                    "messages": conversation_messages(question["turns"], answers),
                }
            )
    frame = pd.DataFrame(rows, columns=[*OUTPUT_COLUMNS, "messages"])
    return frame.sort_values(["prompt_id", "model"], kind="stable").reset_index(drop=True)


def _conversation_of(row: Mapping[str, Any]) -> tuple[list[str], list[str]] | None:
    """The (user, assistant) turns of an outputs row that carries ``messages``."""
    messages = row.get("messages")
    if hasattr(messages, "tolist"):
        messages = messages.tolist()
    if not isinstance(messages, list) or not messages:
        return None
    user = [str(m["content"]) for m in messages if m.get("role") == "user"]
    bot = [str(m["content"]) for m in messages if m.get("role") == "assistant"]
    return user, bot


def write_mtbench_questions(outputs: pd.DataFrame, path: str | Path) -> Path:
    """``question.jsonl`` from the prompts of an outputs frame, every turn of each."""
    items = outputs.drop_duplicates("prompt_id").sort_values("prompt_id", kind="stable")
    rows = []
    for item in items.to_dict("records"):
        qid, _ = split_prompt_id(str(item["prompt_id"]))
        row: dict[str, Any] = {"question_id": qid, "category": item.get("category") or "general"}
        conversation = _conversation_of(item)
        row["turns"] = conversation[0] if conversation else [item["prompt"]]
        reference = item.get("reference")
        if hasattr(reference, "tolist"):
            reference = reference.tolist()
        if isinstance(reference, str):
            row["reference"] = [reference]
        elif isinstance(reference, list) and reference:
            row["reference"] = [str(r) for r in reference]
        rows.append(row)
    return write_jsonl(rows, path)


def write_mtbench_answers(outputs: pd.DataFrame, directory: str | Path) -> list[Path]:
    """``model_answer/<model>.jsonl`` files, one per model, in FastChat's answer format."""
    written = []
    for model, group in outputs.groupby("model", sort=True):
        rows = [
            {
                "question_id": split_prompt_id(str(r["prompt_id"]))[0],
                "answer_id": f"{model}:{r['prompt_id']}",
                "model_id": model,
                "choices": [{"index": 0, "turns": _answers(r)}],
                "tstamp": time.time(),
            }
            for r in group.to_dict("records")
        ]
        written.append(write_jsonl(rows, Path(directory) / f"{model}.jsonl"))
    return written


def _answers(row: Mapping[str, Any]) -> list[str]:
    conversation = _conversation_of(row)
    return conversation[1] if conversation else [str(row["output"])]


def _judge_name(value: Any) -> str:
    # FastChat writes the judge as a (model, prompt name) pair: ["gpt-4", "pair-v2"].
    if isinstance(value, (list, tuple)):
        return "/".join(str(v) for v in value)
    return str(value) if value is not None else ""


def _split_judge(name: str) -> list[str]:
    model, _, prompt = name.partition("/")
    return [model, prompt or "pair-v2"]


def read_mtbench_pair_judgments(path: str | Path) -> pd.DataFrame:
    """``gpt-4_pair.jsonl`` as a verdicts frame: two rows (games) per judgment line.

    Game 1 showed model_1 first (order ``ab``), game 2 swapped them (``ba``); winners are
    already in model terms in the file. Columns: :data:`VERDICT_COLUMNS` plus ``turn``.
    """
    p = Path(path)
    rows = []
    for line, row in records(p):
        qid = field(row, "question_id", path=p, line=line)
        turn = _turn(row.get("turn", 1), path=p, line=line)
        model_1 = string(row, "model_1", path=p, line=line)
        model_2 = string(row, "model_2", path=p, line=line)
        if model_1 == model_2:
            raise InputError(
                f"a model cannot face itself ({model_1!r} is model_1 and model_2)",
                path=str(p),
                line=line,
            )
        for game, order in (("g1", "ab"), ("g2", "ba")):
            winner = str(field(row, f"{game}_winner", path=p, line=line))
            if winner not in _PAIR_WINNERS:
                raise InputError(
                    f"{game}_winner {winner!r} is not one of {', '.join(_PAIR_WINNERS)}",
                    path=str(p),
                    line=line,
                )
            rows.append(
                {
                    "prompt_id": mtbench_prompt_id(qid, turn),
                    "model_a": model_1,
                    "model_b": model_2,
                    "position_order": order,
                    "winner": _PAIR_WINNERS[winner],
                    "judge": _judge_name(row.get("judge")),
                    "raw": str(row.get(f"{game}_judgment") or ""),
                    "turn": turn,
                }
            )
    return pd.DataFrame(rows, columns=[*VERDICT_COLUMNS, "turn"])


def write_mtbench_pair_judgments(
    verdicts: pd.DataFrame, path: str | Path, *, judge: str = "judgekit/pair-v2"
) -> Path:
    """``gpt-4_pair.jsonl`` from a verdicts frame (both orders of each comparison).

    A comparison judged in one order only writes that game for both.
    """
    back = {v: k for k, v in _PAIR_WINNERS.items()}
    rows = []
    for (pid, model_a, model_b), group in verdicts.groupby(
        ["prompt_id", "model_a", "model_b"], sort=True
    ):
        games = dict(zip(group["position_order"], group.to_dict("records"), strict=True))
        g1 = games.get("ab") or games["ba"]
        g2 = games.get("ba") or games["ab"]
        qid, turn = split_prompt_id(str(pid))
        name = g1.get("judge") or judge
        rows.append(
            {
                "question_id": qid,
                "model_1": model_a,
                "model_2": model_b,
                "g1_winner": back[str(g1["winner"])],
                "g2_winner": back[str(g2["winner"])],
                "judge": _split_judge(str(name)),
                "g1_user_prompt": "",
                "g1_judgment": g1.get("raw") or "",
                "g2_user_prompt": "",
                "g2_judgment": g2.get("raw") or "",
                "turn": int(g1.get("turn") or turn),
                "tstamp": time.time(),
            }
        )
    return write_jsonl(rows, path)


def read_mtbench_single_judgments(path: str | Path) -> pd.DataFrame:
    """``gpt-4_single.jsonl`` as a scores frame.

    Columns: prompt_id, model, score (NaN where FastChat wrote -1: no rating found), status
    (``ok`` or ``parse_error``), judge, turn, raw.
    """
    p = Path(path)
    rows = []
    for line, row in records(p):
        qid = field(row, "question_id", path=p, line=line)
        turn = _turn(row.get("turn", 1), path=p, line=line)
        score = field(row, "score", path=p, line=line)
        try:
            value = float(score)
        except (TypeError, ValueError):
            raise InputError(f"score {score!r} is not a number", path=str(p), line=line) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise InputError(f"score {score!r} must be a finite number", path=str(p), line=line)
        failed = value < 0
        rows.append(
            {
                "prompt_id": mtbench_prompt_id(qid, turn),
                "model": string(row, "model", path=p, line=line),
                "score": float("nan") if failed else value,
                "status": "parse_error" if failed else "ok",
                "judge": _judge_name(row.get("judge")),
                "turn": turn,
                "raw": str(row.get("judgment") or ""),
            }
        )
    return pd.DataFrame(
        rows, columns=["prompt_id", "model", "score", "status", "judge", "turn", "raw"]
    )


def write_mtbench_single_judgments(
    scores: pd.DataFrame, path: str | Path, *, judge: str = "judgekit/single-v1"
) -> Path:
    """``gpt-4_single.jsonl`` from a scores frame (prompt_id, model, score[, judge, raw])."""
    rows = []
    for r in scores.to_dict("records"):
        qid, turn = split_prompt_id(str(r["prompt_id"]))
        score = r.get("score")
        missing = score is None or score != score
        rows.append(
            {
                "question_id": qid,
                "model": r["model"],
                "judge": _split_judge(str(r.get("judge") or judge)),
                "user_prompt": "",
                "judgment": r.get("raw") or "",
                "score": -1 if missing else float(score),
                "turn": int(r.get("turn") or turn),
                "tstamp": time.time(),
            }
        )
    return write_jsonl(rows, path)


def read_mtbench_human_judgments(path: str | Path) -> pd.DataFrame:
    """MT-Bench human judgments as a human-labels frame (:data:`HUMAN_LABEL_COLUMNS`).

    Each vote is one row, its ``judge`` becomes the annotator, and the prompt id carries
    the turn (:func:`mtbench_prompt_id`). ``conversation_a``/``conversation_b`` are kept
    when present, so that :func:`outputs_from_human_judgments` can rebuild the answers.
    """
    p = Path(path)
    rows = []
    for line, row in records(p):
        qid = field(row, "question_id", path=p, line=line)
        turn = _turn(field(row, "turn", path=p, line=line), path=p, line=line)
        model_a = string(row, "model_a", path=p, line=line)
        model_b = string(row, "model_b", path=p, line=line)
        winner = normalise_winner(
            field(row, "winner", path=p, line=line),
            model_a=model_a,
            model_b=model_b,
            path=p,
            line=line,
        )
        rows.append(
            {
                "prompt_id": mtbench_prompt_id(qid, turn),
                "model_a": model_a,
                "model_b": model_b,
                "winner": winner,
                "annotator": str(row.get("judge") or ""),
                "weight": 1.0,
                "turn": turn,
                "conversation_a": row.get("conversation_a"),
                "conversation_b": row.get("conversation_b"),
            }
        )
    return pd.DataFrame(
        rows, columns=[*HUMAN_LABEL_COLUMNS, "turn", "conversation_a", "conversation_b"]
    )


def outputs_from_human_judgments(labels: pd.DataFrame) -> pd.DataFrame:
    """The answers inside the human judgments' conversations, as an outputs frame.

    The conversations alternate user and assistant messages; turn 1 takes the first pair,
    turn 2 the transcript of both, matching :func:`read_mtbench`.
    """
    rows = []
    for r in labels.to_dict("records"):
        _, turn = split_prompt_id(str(r["prompt_id"]))
        for side in ("a", "b"):
            conversation = r.get(f"conversation_{side}")
            if not isinstance(conversation, list):
                continue
            user = [str(m["content"]) for m in conversation if m.get("role") == "user"]
            bot = [str(m["content"]) for m in conversation if m.get("role") == "assistant"]
            if len(user) < turn or len(bot) < turn:
                continue
            rows.append(
                {
                    "prompt_id": r["prompt_id"],
                    "prompt": user[0] if turn == 1 else conversation_text(user[:turn]),
                    "model": r[f"model_{side}"],
                    "output": bot[0] if turn == 1 else conversation_text(user, bot[:turn]),
                }
            )
    frame = outputs_frame(rows)
    return frame.drop_duplicates(["prompt_id", "model"]).reset_index(drop=True)


def write_mtbench_human_judgments(
    labels: pd.DataFrame, path: str | Path, *, outputs: pd.DataFrame | None = None
) -> Path:
    """Human judgments in the MT-Bench dataset's fields, as JSONL.

    Conversations come from the labels' own ``conversation_a``/``conversation_b`` columns or,
    for turn-1 prompts, from ``outputs``; without either they are empty lists.
    """
    answers: dict[tuple[str, str], tuple[str, str]] = {}
    if outputs is not None:
        for r in outputs.to_dict("records"):
            answers[(str(r["prompt_id"]), str(r["model"]))] = (str(r["prompt"]), str(r["output"]))
    rows = []
    for r in labels.to_dict("records"):
        qid, turn = split_prompt_id(str(r["prompt_id"]))
        conv = {}
        for side in ("a", "b"):
            given = r.get(f"conversation_{side}")
            found = answers.get((str(r["prompt_id"]), str(r[f"model_{side}"])))
            if isinstance(given, list):
                conv[side] = given
            elif found is not None and turn == 1:
                conv[side] = [
                    {"content": found[0], "role": "user"},
                    {"content": found[1], "role": "assistant"},
                ]
            else:
                conv[side] = []
        rows.append(
            {
                "question_id": qid,
                "model_a": r["model_a"],
                "model_b": r["model_b"],
                "winner": r["winner"],
                "judge": r.get("annotator") or "",
                "conversation_a": conv["a"],
                "conversation_b": conv["b"],
                "turn": int(r.get("turn") or turn),
            }
        )
    return write_jsonl(rows, path)
