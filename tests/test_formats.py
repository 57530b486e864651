"""Peer-format importers and exporters on small hand-made samples in the real field names:
FastChat MT-Bench, arena-hard-auto (v0.1 and v2.0), AlpacaEval and Chatbot Arena."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from judgekit.errors import InputError
from judgekit.inputs.battles import load_battles
from judgekit.inputs.formats import alpaca_eval as ae
from judgekit.inputs.formats import arena_hard as ah
from judgekit.inputs.formats import chatbot_arena as ca
from judgekit.inputs.formats import mtbench as mt
from judgekit.inputs.human import load_human_labels
from judgekit.inputs.outputs import load_outputs
from judgekit.protocols.debias import verdicts_to_outcomes

DATA = Path(__file__).parent / "data" / "formats"
MT = DATA / "mtbench"
MT_ANSWERS = sorted((MT / "model_answer").glob("*.jsonl"))


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _break_line(source: Path, target: Path, line: int, edit: dict[str, object]) -> Path:
    """A copy of a JSONL file with one line's fields changed."""
    rows = _lines(source)
    rows[line - 1].update(edit)
    target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return target


# -- MT-Bench ---------------------------------------------------------------------------------


def test_mtbench_answers_read_as_outputs_and_round_trip(tmp_path: Path) -> None:
    outputs = mt.read_mtbench(MT / "question.jsonl", MT_ANSWERS, turn=1)
    assert len(outputs) == 9 and set(outputs["prompt_id"]) == {"81", "111", "131"}
    math_q = outputs[outputs["prompt_id"] == "111"].iloc[0]
    assert math_q["reference"] == "Area is 3" and math_q["category"] == "math"
    mt.write_mtbench_questions(outputs, tmp_path / "question.jsonl")
    written = mt.write_mtbench_answers(outputs, tmp_path / "model_answer")
    assert mt.read_mtbench(tmp_path / "question.jsonl", written, turn=1).equals(outputs)
    answer = _lines(written[0])[0]
    assert set(answer) == {"question_id", "answer_id", "model_id", "choices", "tstamp"}
    assert isinstance(answer["question_id"], int) and answer["choices"][0]["index"] == 0
    # The import is what `judgekit compare` reads.
    outputs.to_json(tmp_path / "outputs.jsonl", orient="records", lines=True)
    assert len(load_outputs([tmp_path / "outputs.jsonl"]).candidates) == 9


def test_mtbench_second_turn_judges_the_whole_conversation() -> None:
    outputs = mt.read_mtbench(MT / "question.jsonl", MT_ANSWERS, turn=2)
    row = outputs[(outputs["prompt_id"] == "81-turn2") & (outputs["model"] == "gpt-4")].iloc[0]
    assert row["prompt"].startswith("Turn 1:\nCompose") and "Turn 2:\nRewrite" in row["prompt"]
    assert "Turn 2:\nA trip to Hawaii awaits" in row["output"]
    assert mt.split_prompt_id("81-turn2") == (81, 2) and mt.mtbench_prompt_id(81, 2) == "81-turn2"


def test_mtbench_pair_judgments_round_trip_and_combine(tmp_path: Path) -> None:
    verdicts = mt.read_mtbench_pair_judgments(MT / "model_judgment" / "gpt-4_pair.jsonl")
    assert len(verdicts) == 14 and set(verdicts["judge"]) == {
        "gpt-4/pair-v2",
        "gpt-4/pair-v2-multi-turn",
    }
    path = mt.write_mtbench_pair_judgments(verdicts, tmp_path / "gpt-4_pair.jsonl")
    again = mt.read_mtbench_pair_judgments(path)
    key = ["prompt_id", "model_a", "model_b", "position_order"]
    pd.testing.assert_frame_equal(
        again.sort_values(key).reset_index(drop=True),
        verdicts.sort_values(key).reset_index(drop=True),
    )
    assert set(_lines(path)[0]) >= {"question_id", "model_1", "model_2", "g1_winner", "g2_winner"}
    outcomes = verdicts_to_outcomes(verdicts).set_index(["prompt_id", "model_a", "model_b"])
    assert outcomes.loc[("81", "alpaca-13b", "gpt-4"), "win_b"] == 1.0
    split = outcomes.loc[("81", "alpaca-13b", "vicuna-13b-v1.3")]
    assert split["flipped"] and split["tie"] == 1.0  # g1 and g2 disagree: a tie
    assert outcomes.loc[("131", "alpaca-13b", "gpt-4"), "status"] == "parse_error"
    assert outcomes.loc[("81-turn2", "alpaca-13b", "gpt-4"), "win_b"] == 1.0


def test_mtbench_single_judgments_round_trip(tmp_path: Path) -> None:
    scores = mt.read_mtbench_single_judgments(MT / "model_judgment" / "gpt-4_single.jsonl")
    failed = scores[scores["status"] == "parse_error"]
    assert len(scores) == 6 and list(failed["model"]) == ["alpaca-13b"]  # FastChat's -1
    path = mt.write_mtbench_single_judgments(scores, tmp_path / "gpt-4_single.jsonl")
    pd.testing.assert_frame_equal(mt.read_mtbench_single_judgments(path), scores)
    assert _lines(path)[-1]["score"] == -1


def test_mtbench_human_judgments_feed_labels_and_outputs(tmp_path: Path) -> None:
    labels = mt.read_mtbench_human_judgments(MT / "human_judgments.json")
    assert len(labels) == 7 and "81-turn2" in set(labels["prompt_id"])
    assert labels.loc[4, "winner"] == "tie"  # "tie (bothbad)"
    assert labels.loc[0, "annotator"] == "expert_0"
    path = mt.write_mtbench_human_judgments(labels, tmp_path / "human.jsonl")
    pd.testing.assert_frame_equal(mt.read_mtbench_human_judgments(path), labels)
    # The conversations hold the same answers as the model_answer files.
    from_conv = mt.outputs_from_human_judgments(labels)
    answers = mt.read_mtbench(MT / "question.jsonl", MT_ANSWERS)
    merged = from_conv[from_conv["prompt_id"] == "81"].merge(answers, on=["prompt_id", "model"])
    assert len(merged) == 3 and (merged["output_x"] == merged["output_y"]).all()
    # load_human_labels recognises the file by its fields.
    assert load_human_labels(MT / "human_judgments.json").pairs.equals(
        labels[["prompt_id", "model_a", "model_b", "winner", "annotator", "weight"]]
    )


def test_mtbench_malformed_files_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "model_answer.jsonl"
    bad.write_text((MT_ANSWERS[0]).read_text().replace("}\n", "}\n{oops\n", 1))
    with pytest.raises(InputError, match=r"model_answer\.jsonl:2: malformed JSON"):
        mt.read_mtbench(MT / "question.jsonl", [bad])
    pair = MT / "model_judgment" / "gpt-4_pair.jsonl"
    broken = _break_line(pair, tmp_path / "pair.jsonl", 3, {"g2_winner": "model_3"})
    with pytest.raises(InputError, match=r"pair\.jsonl:3: g2_winner 'model_3'") as info:
        mt.read_mtbench_pair_judgments(broken)
    assert info.value.line == 3
    missing = _break_line(MT / "question.jsonl", tmp_path / "q.jsonl", 2, {"turns": []})
    with pytest.raises(InputError, match=r"q\.jsonl:2: 'turns' must be a non-empty list"):
        mt.read_mtbench(missing, MT_ANSWERS)
    copy = shutil.copy(MT_ANSWERS[0], tmp_path / "again.jsonl")
    with pytest.raises(InputError, match=r"again\.jsonl:1: model 'alpaca-13b' answers prompt"):
        mt.read_mtbench(MT / "question.jsonl", [MT_ANSWERS[0], copy])
    human = json.loads((MT / "human_judgments.json").read_text())
    human[2]["winner"] = "model_c"
    (tmp_path / "human.json").write_text(json.dumps(human))
    with pytest.raises(InputError, match=r"human\.json:3: unknown winner 'model_c'"):
        mt.read_mtbench_human_judgments(tmp_path / "human.json")


# -- arena-hard -------------------------------------------------------------------------------

AH1, AH2 = DATA / "arena_hard" / "v0.1", DATA / "arena_hard" / "v2.0"


def test_arena_hard_v01_answers_and_judgments() -> None:
    outputs = ah.read_arena_hard(AH1 / "question.jsonl", sorted(AH1.glob("model_answer/*.jsonl")))
    assert len(outputs) == 4 and set(outputs["model"]) == {"gpt-4-0314", "llama-2-70b-chat"}
    judgments = sorted(AH1.glob("model_judgment/*/*.jsonl"))
    with pytest.raises(InputError, match=r"llama-2-70b-chat\.jsonl:1: .*baseline"):
        ah.read_arena_hard_judgments(judgments)
    verdicts = ah.read_arena_hard_judgments(judgments, baseline="gpt-4-0314")
    # Game 1 "A>B": the baseline (shown as A) wins; game 2 "B>>A": the baseline is B, wins big.
    assert list(verdicts["winner"][:2]) == ["model_a", "model_a"]
    assert list(verdicts["strength"]) == [1, 2, 1, 1]
    outcomes = verdicts_to_outcomes(verdicts)
    assert list(outcomes["win_a"]) == [1.0, 0.0] and list(outcomes["flipped"]) == [False, True]
    battles = ah.arena_hard_battles(verdicts)
    assert list(battles["weight"]) == [1.0, 3.0, 1.0, 1.0]


def test_arena_hard_v2_round_trips(tmp_path: Path) -> None:
    outputs = ah.read_arena_hard(AH2 / "question.jsonl", sorted(AH2.glob("model_answer/*.jsonl")))
    assert len(outputs) == 6 and outputs["category"].iloc[0] == "hard_prompt"
    ah.write_arena_hard_questions(outputs, tmp_path / "question.jsonl")
    written = ah.write_arena_hard_answers(outputs, tmp_path / "model_answer")
    assert ah.read_arena_hard(tmp_path / "question.jsonl", written).equals(outputs)
    answer = _lines(written[0])[0]
    assert set(answer) == {"uid", "ans_id", "model", "messages", "tstamp", "metadata"}
    assert answer["messages"][-1]["content"] == {"answer": outputs["output"].iloc[0]}

    verdicts = ah.read_arena_hard_judgments(sorted(AH2.glob("model_judgment/*/*.jsonl")))
    assert set(verdicts["model_a"]) == {"o3-mini-2025-01-31"}  # the baseline, from each row
    files = ah.write_arena_hard_judgments(
        verdicts, tmp_path / "model_judgment", baseline="o3-mini-2025-01-31", judge="gpt-4.1"
    )
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "model_judgment/gpt-4.1/gpt-4.1.jsonl"
    ]
    pd.testing.assert_frame_equal(ah.read_arena_hard_judgments(files), verdicts)
    row = _lines(files[0])[0]
    assert set(row) == {"uid", "category", "judge", "model", "baseline", "games"}
    assert [g["score"] for g in row["games"]] == ["B>A", "A>>B"]
    # A null score fails its game: judgekit keeps the other order, arena-hard drops both.
    outcomes = verdicts_to_outcomes(verdicts).set_index("prompt_id")
    assert outcomes.loc["0d4b2e1a9c7f4a11", "status"] == "parse_error"
    assert len(ah.arena_hard_battles(verdicts)) == 4


def test_arena_hard_rejects_unknown_scores(tmp_path: Path) -> None:
    source = AH2 / "model_judgment" / "gpt-4.1" / "gpt-4.1.jsonl"
    rows = _lines(source)
    rows[1]["games"][1]["score"] = "A>>>B"
    bad = tmp_path / "gpt-4.1.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"gpt-4\.1\.jsonl:2: game 2 score 'A>>>B'"):
        ah.read_arena_hard_judgments([bad])


# -- AlpacaEval -------------------------------------------------------------------------------

AE = DATA / "alpaca_eval"


def test_alpaca_eval_outputs_round_trip(tmp_path: Path) -> None:
    outputs = ae.read_alpaca_eval_outputs(AE / "model_outputs.json")
    assert len(outputs) == 4 and set(outputs["model"]) == {"Mistral-7B-Instruct-v0.2"}
    assert set(outputs["category"]) == {"helpful_base", "koala"}
    path = ae.write_alpaca_eval_outputs(outputs, tmp_path / "model_outputs.json")
    assert ae.read_alpaca_eval_outputs(path).equals(outputs)
    assert set(json.loads(path.read_text())[0]) == {"instruction", "output", "generator", "dataset"}
    # Prompt ids match what `judgekit compare` gives the same files.
    loaded = load_outputs([AE / "model_outputs.json", AE / "reference_outputs.json"])
    assert set(loaded.items) == set(outputs["prompt_id"])


def test_alpaca_eval_annotations_round_trip(tmp_path: Path) -> None:
    annotations = ae.read_alpaca_eval_annotations(AE / "annotations.json")
    assert list(annotations["status"]) == ["ok", "ok", "ok", "parse_error", "ok"]
    assert annotations.loc[0, "win_b"] == pytest.approx(0.9632)  # a weighted preference
    assert annotations.loc[4, "tie"] == 1.0  # 1.5 is a draw
    assert annotations.loc[0, "model_a"] == "gpt4_1106_preview"  # generator_1 = baseline
    path = ae.write_alpaca_eval_annotations(annotations, tmp_path / "annotations.json")
    again = ae.read_alpaca_eval_annotations(path)
    core = ["prompt_id", "model_a", "model_b", "win_a", "win_b", "tie", "status", "judge"]
    pd.testing.assert_frame_equal(again[core], annotations[core])
    written = json.loads(path.read_text())
    assert [r["preference"] for r in written] == [pytest.approx(1.9632), 2.0, 1.0, None, 1.5]
    assert set(written[0]) >= {"instruction", "output_1", "generator_1", "output_2", "generator_2"}


def test_alpaca_eval_leaderboard_csv_round_trip_and_from_annotations(tmp_path: Path) -> None:
    board = ae.read_alpaca_eval_leaderboard(AE / "leaderboard.csv")
    assert list(board["model"]) == [
        "gpt-4o-2024-05-13",
        "gpt4_1106_preview",
        "Mistral-7B-Instruct-v0.2",
    ]
    assert board.loc[2, "length_controlled_winrate"] == pytest.approx(17.111251846021165)
    assert pd.isna(board.loc[0, "lc_standard_error"]) and board.loc[0, "n_total"] == 805
    path = ae.write_alpaca_eval_leaderboard(board, tmp_path / "leaderboard.csv")
    pd.testing.assert_frame_equal(ae.read_alpaca_eval_leaderboard(path), board)
    assert path.read_text().startswith(",win_rate,standard_error,n_wins,")

    made = ae.alpaca_eval_leaderboard(
        ae.read_alpaca_eval_annotations(AE / "annotations.json"), baseline="gpt4_1106_preview"
    ).set_index("model")
    mistral = made.loc["Mistral-7B-Instruct-v0.2"]
    # Usable scores of the model: 0.9632, 1, 0, 0.5.
    assert mistral["win_rate"] == pytest.approx(100 * (0.9632 + 1 + 0 + 0.5) / 4)
    assert (mistral["n_wins"], mistral["n_wins_base"], mistral["n_draws"]) == (2, 1, 1)
    assert mistral["discrete_win_rate"] == pytest.approx(62.5)
    assert made.loc["gpt4_1106_preview", "win_rate"] == 50.0


def test_alpaca_eval_rejects_out_of_range_preferences(tmp_path: Path) -> None:
    rows = json.loads((AE / "annotations.json").read_text())
    rows[1]["preference"] = 3
    (tmp_path / "a.json").write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"a\.json:2: preference 3.0 is outside 1-2"):
        ae.read_alpaca_eval_annotations(tmp_path / "a.json")


# -- Chatbot Arena and arena-rank -------------------------------------------------------------

CA = DATA / "chatbot_arena"


def test_chatbot_arena_battles_round_trip(tmp_path: Path) -> None:
    battles = ca.read_battles(CA / "battles.json")
    assert list(battles["winner"]) == ["model_b", "tie", "model_a", "tie (bothbad)"]
    assert battles.loc[3, "tie"] == 1.0 and battles.loc[0, "judge"] == "arena_user_973"
    outputs = ca.outputs_from_battles(battles)
    assert len(outputs) == 8 and outputs["prompt"].str.len().min() > 0
    for suffix in ("json", "jsonl", "parquet"):
        path = ca.write_battles(battles, tmp_path / f"battles.{suffix}", outputs=outputs)
        again = ca.read_battles(path)
        columns = ["prompt_id", "model_a", "model_b", "winner", "win_a", "win_b", "tie", "judge"]
        pd.testing.assert_frame_equal(again[columns], battles[columns])
        assert list(again["conversation_b"]) == list(battles["conversation_b"])
        # The ranking engine's battle reader takes the same file.
        assert len(load_battles(path)) == 4
    labels = load_human_labels(CA / "battles.json").pairs
    assert list(labels["winner"]) == ["model_b", "tie", "model_a", "tie"]


def test_chatbot_arena_rejects_bad_battles(tmp_path: Path) -> None:
    rows = json.loads((CA / "battles.json").read_text())
    rows[1]["winner"] = "model_c"
    bad = tmp_path / "battles.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"battles\.jsonl:2: unknown winner 'model_c'"):
        ca.read_battles(bad)
    rows[1]["winner"], rows[2]["model_b"] = "tie", rows[2]["model_a"]
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"battles\.jsonl:3: a model cannot battle itself"):
        ca.read_battles(bad)


def test_arena_rank_frame_round_trip() -> None:
    battles = ca.read_battles(CA / "battles.json")
    frame = ca.to_arena_rank_frame(battles)
    assert list(frame.columns) == ["model_a", "model_b", "winner"]
    back = ca.from_arena_rank_frame(frame)
    assert list(back["winner"]) == list(battles["winner"])
    both_bad = ca.from_arena_rank_frame(frame.assign(winner=["both_bad"] * 4))
    assert (both_bad["tie"] == 1.0).all()
    with pytest.raises(InputError, match="row 2: unknown winner"):
        ca.from_arena_rank_frame(frame.assign(winner=["tie", "x", "tie", "tie"]))


@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")
def test_arena_rank_reads_the_exported_frame() -> None:
    arena_rank = pytest.importorskip("arena_rank.utils.data_utils")
    frame = ca.to_arena_rank_frame(ca.read_battles(CA / "battles.json"))
    dataset = arena_rank.PairDataset.from_pandas(frame)
    assert dataset.n_competitors == 5
    assert sorted(dataset.competitors) == sorted(set(frame["model_a"]) | set(frame["model_b"]))


def test_samples_are_unchanged_by_the_tests(tmp_path: Path) -> None:
    # Readers never write: a copy of the sample folder reads the same as the original.
    copy = tmp_path / "formats"
    shutil.copytree(DATA, copy)
    assert ca.read_battles(copy / "chatbot_arena" / "battles.json").equals(
        ca.read_battles(CA / "battles.json")
    )


def test_import_run_stores_arena_hard_judgments_once_per_comparison() -> None:
    from judgekit.store import queries
    from judgekit.store.db import open_store
    from judgekit.views.export import import_run

    verdicts = ah.read_arena_hard_judgments(sorted(AH2.glob("model_judgment/*/*.jsonl")))
    with open_store(":memory:") as store:
        run_id = import_run(
            store,
            outcomes=verdicts_to_outcomes(verdicts),
            verdicts=verdicts,
            source="gpt-4.1.jsonl",
            judge="gpt-4.1",
            bootstrap=0,
        )
        assert len(queries.outcomes(store, run_id=run_id)) == 3
        assert len(queries.verdicts(store, run_id=run_id)) == 6
        assert set(queries.leaderboard(store, run_id=run_id)["model"]) == {
            "gpt-4.1",
            "o3-mini-2025-01-31",
        }
        # arena-hard's per-game battles repeat each comparison: a run refuses them.
        with pytest.raises(InputError, match="appears more than once"):
            import_run(store, outcomes=ah.arena_hard_battles(verdicts), source="x", judge="j")
