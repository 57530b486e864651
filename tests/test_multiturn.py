"""Multi-turn (MT-Bench two-turn) judging: loading conversations, turn-N prompts, per-turn
storage and boards, and the MT-Bench import that keeps both turns."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from judgekit.cli import cli
from judgekit.errors import ConfigError, InputError
from judgekit.inputs.formats import mtbench as mt
from judgekit.inputs.outputs import load_outputs
from judgekit.judges.fakes import ScriptedJudge
from judgekit.plan import Comparison
from judgekit.protocols.fencing import seal
from judgekit.protocols.pairwise import PairwiseSpec, plan_requests
from judgekit.runs.compare import compare
from judgekit.runs.grade import grade
from judgekit.store.db import open_store
from judgekit.store.migrations import MIGRATIONS
from judgekit.types import Candidate, Item, JudgeRequest
from tests.conftest import write_jsonl

DATA = Path(__file__).parent / "data" / "multiturn"
QUESTIONS = DATA / "question.jsonl"
ANSWERS = sorted((DATA / "model_answer").glob("*.jsonl"))
MESSAGES = [DATA / "attentive.messages.jsonl", DATA / "forgetful.messages.jsonl"]


def _conversations() -> dict[tuple[str, str], list[dict[str, str]]]:
    out = {}
    for path in MESSAGES:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            out[(row["prompt_id"], row["model"])] = row["messages"]
    return out


CONVERSATIONS = _conversations()
ATTENTIVE_SECOND = {
    m[3]["content"] for (_, model), m in CONVERSATIONS.items() if model == "attentive"
}


def _fenced_at(text: str, body: str, start: int = 0) -> int:
    """Where ``body`` sits fenced (BEGIN/END markers with one tag) in ``text``, after ``start``."""
    pattern = re.compile(
        r"<<<BEGIN (?P<label>[A-Z0-9 ]+) (?P<tag>[0-9a-f]{16})>>>\n"
        + re.escape(body)
        + r"\n<<<END (?P=label) (?P=tag)>>>"
    )
    match = pattern.search(text, start)
    assert match is not None, f"not fenced after {start}: {body!r}"
    return match.start()


def _block(text: str, who: str) -> str:
    begin = text.index(f"<|The Start of {who}'s Conversation with User|>")
    end = text.index(f"<|The End of {who}'s Conversation with User|>")
    return text[begin:end]


def _check_turn_two(text: str, who: str, conversation: list[dict[str, str]]) -> None:
    """Question 1, answer 1, question 2, answer 2 appear in order, each fenced, in one block."""
    block = _block(text, who)
    position = 0
    for message in conversation:
        position = _fenced_at(block, message["content"], position) + 1
    assert block.count("### User:") == 2 and block.count(f"### {who}:") == 2


def _pairwise_script(seen: list[str]):  # type: ignore[no-untyped-def]
    """Tie on turn 1; on turn 2 prefer the assistant that answered in context. Checks that
    every turn-2 prompt shows both whole conversations in order, fenced."""

    def reply(request: JudgeRequest) -> str:
        text = request.messages[0].content
        if "Conversation with User|>" not in text:
            seen.append("turn1")
            return "Both answers are the same. [[C]]"
        seen.append("turn2")
        assert "turn 2" in text
        for who in ("Assistant A", "Assistant B"):
            block = _block(text, who)
            key = next(k for k, conv in CONVERSATIONS.items() if conv[3]["content"] in block)
            _check_turn_two(text, who, CONVERSATIONS[key])
        a_attentive = any(answer in _block(text, "Assistant A") for answer in ATTENTIVE_SECOND)
        return "A keeps the context. [[A]]" if a_attentive else "B keeps the context. [[B]]"

    return reply


# -- loading --------------------------------------------------------------------------------


def test_messages_and_mtbench_turns_load_as_conversations(tmp_path: Path) -> None:
    data = load_outputs(MESSAGES)
    item = data.items["2"]
    assert item.n_turns == 2 and item.prompt == "What is 12 times 7?"
    assert item.turns[1] == "Now add 16 to that result. What do you get?"
    assert item.reference == "12 times 7 is 84." and item.reference_turns[1] == "84 plus 16 is 100."
    cand = data.by_prompt()["2"]["forgetful"]
    assert cand.output == "12 times 7 is 84." and cand.turns == (
        "12 times 7 is 84.",
        "16 plus 12 is 28.",
    )
    # MT-Bench's own answer rows (choices[0].turns with the question's turns) read the same.
    questions = {
        json.loads(line)["question_id"]: json.loads(line)
        for line in QUESTIONS.read_text().splitlines()
    }
    rows = []
    for path in ANSWERS:
        for line in path.read_text().splitlines():
            answer = json.loads(line)
            rows.append({**answer, "turns": questions[answer["question_id"]]["turns"]})
    from_choices = load_outputs([write_jsonl(tmp_path / "answers.jsonl", rows)])
    assert from_choices.by_prompt()["2"]["forgetful"].turns == cand.turns
    assert from_choices.items["2"].turns == item.turns
    # Conversations change the run's input digest; a one-turn conversation is a plain row.
    single = write_jsonl(
        tmp_path / "one.jsonl",
        [
            {
                "prompt_id": "q",
                "model": m,
                "messages": [
                    {"role": "user", "content": "Hi?"},
                    {"role": "assistant", "content": f"Hi from {m}."},
                ],
            }
            for m in ("x", "y")
        ],
    )
    plain = write_jsonl(
        tmp_path / "plain.jsonl",
        [
            {"prompt_id": "q", "model": m, "prompt": "Hi?", "output": f"Hi from {m}."}
            for m in ("x", "y")
        ],
    )
    assert not load_outputs([single]).multi_turn
    # Other tools' "choices" (a raw API response beside the output) are not conversations.
    raw_api = write_jsonl(
        tmp_path / "api.jsonl",
        [
            {
                "prompt": "Hi?",
                "model": m,
                "output": "Hi.",
                "choices": [{"message": {"content": "Hi."}}],
            }
            for m in ("x", "y")
        ],
    )
    assert not load_outputs([raw_api]).multi_turn
    assert load_outputs([single]).digest() == load_outputs([plain]).digest()


def _row(model: str, messages: list[dict[str, str]], pid: str = "1") -> dict[str, object]:
    return {"prompt_id": pid, "model": model, "messages": messages}


def _msgs(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


GOOD = _msgs(("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2"))


@pytest.mark.parametrize(
    ("rows", "line", "needle"),
    [
        (
            [_row("x", _msgs(("assistant", "A1"), ("user", "Q1")))],
            1,
            "messages[0] has role 'assistant' where 'user'",
        ),
        (
            [_row("x", _msgs(("user", "Q1"), ("user", "Q2")))],
            1,
            "messages[1] has role 'user' where 'assistant'",
        ),
        ([_row("x", _msgs(("system", "Be nice"), ("user", "Q1")))], 1, "role 'system'"),
        ([_row("x", _msgs(("user", "Q1"), ("assistant", " ")))], 1, "messages[1].content is empty"),
        (
            [_row("x", _msgs(("user", "Q1"), ("assistant", "A1"), ("user", "Q2")))],
            1,
            "no assistant answer",
        ),
        (
            [_row("x", GOOD), _row("y", GOOD[:2])],
            2,
            "answers 1 turn(s) of prompt '1', but the row at",
        ),
        (
            [
                _row("x", GOOD),
                _row("y", [*GOOD[:2], {"role": "user", "content": "Other"}, GOOD[3]]),
            ],
            2,
            "different user turn 2",
        ),
        ([{**_row("x", GOOD), "output": "Not A1"}], 1, "'output' differs from the conversation"),
        (
            [
                {
                    "question_id": 1,
                    "model": "x",
                    "turns": ["Q1", "Q2"],
                    "choices": [{"turns": ["A1"]}],
                }
            ],
            1,
            "2 user turn(s) but 'choices[0].turns' 1 answer(s)",
        ),
        (
            [{"question_id": 1, "model": "x", "choices": [{"turns": ["A1"]}]}],
            1,
            "question's user turns",
        ),
    ],
)
def test_conversation_errors_name_file_and_line(
    tmp_path: Path, rows: list[dict[str, object]], line: int, needle: str
) -> None:
    path = write_jsonl(tmp_path / "outs.jsonl", [*rows, _row("z", GOOD, pid="other")])
    with pytest.raises(InputError) as info:
        load_outputs([path])
    assert f"{path}:{line}:" in str(info.value) and needle in str(info.value)


# -- prompts and hashes -----------------------------------------------------------------------


def test_turn_one_is_the_single_turn_request_and_turn_two_hashes_the_conversation() -> None:
    item = Item("1", "Q1", turns=("Q1", "Q2"))
    a = Candidate("1", "a", "A1", turns=("A1", "A2"))
    b = Candidate("1", "b", "B1", turns=("B1", "B2"))
    spec = PairwiseSpec(mode="generate")

    def hashes(item: Item, a: Candidate, b: Candidate, turn: int) -> str:
        call = plan_requests(
            [Comparison("1", "a", "b", turn=turn)],
            items={"1": item},
            candidates={"1": {"a": a, "b": b}},
            spec=spec,
        )[0]
        return call.request.hash_for("j")

    single = hashes(Item("1", "Q1"), Candidate("1", "a", "A1"), Candidate("1", "b", "B1"), 1)
    # Turn 1 shows the judge exactly what a single-turn prompt does: one cache entry.
    assert hashes(item, a, b, 1) == single
    turn2 = hashes(item, a, b, 2)
    assert turn2 != single
    changed = {
        hashes(Item("1", "Q1", turns=("Q1", "Q2 changed")), a, b, 2),
        hashes(item, Candidate("1", "a", "A1", turns=("A1 changed", "A2")), b, 2),
        hashes(item, a, Candidate("1", "b", "B1", turns=("B1", "B2 changed")), 2),
    }
    assert turn2 not in changed and len(changed) == 3


def test_reference_turns_pick_the_reference_template() -> None:
    item = Item("2", "Q1", reference="R1", turns=("Q1", "Q2"), reference_turns=("R1", "R2"))
    cands = {
        "a": Candidate("2", "a", "A1", turns=("A1", "A2")),
        "b": Candidate("2", "b", "B1", turns=("B1", "B2")),
    }
    call = plan_requests(
        [Comparison("2", "a", "b", turn=2)],
        items={"2": item},
        candidates={"2": cands},
        spec=PairwiseSpec(),
    )[0]
    text = seal(call.request).messages[0].content  # tags are drawn when a request is sent
    begin = text.index("<|The Start of Reference Answer|>")
    ref = text[begin : text.index("<|The End of Reference Answer|>")]
    position = 0
    for body in ("Q1", "R1", "Q2", "R2"):
        position = _fenced_at(ref, body, position) + 1
    assert "### Reference answer:" in ref
    assert call.request.assistant_prefix.endswith("Assistant") and call.request.choices == (
        "A",
        "B",
    )


# -- compare: scripted judge, per-turn storage and boards --------------------------------------


def test_multi_turn_compare_judges_turn_two_in_context_and_stores_per_turn(tmp_path: Path) -> None:
    seen: list[str] = []
    judge = ScriptedJudge(_pairwise_script(seen))
    db = tmp_path / "mt.duckdb"
    result = compare(MESSAGES, judge=judge, db=db, verdict="generate", bootstrap=0)
    # 3 questions x 1 pair x 2 orders per turn; both models gave the same first answers, so
    # the two orders of turn 1 are one request, judged once.
    assert seen.count("turn1") == 3 and seen.count("turn2") == 6
    outcomes = result.outcomes.set_index(["prompt_id", "turn"])
    assert (outcomes.xs(1, level="turn")["tie"] == 1.0).all()
    turn2 = outcomes.xs(2, level="turn")
    attentive_a = turn2["model_a"] == "attentive"
    assert ((turn2["win_a"] == 1.0) == attentive_a).all() and not turn2["flipped"].any()
    boards = result.turn_leaderboards
    assert set(boards) == {1, 2}
    assert boards[1]["win_rate"].tolist() == [0.5, 0.5]
    assert boards[2].set_index("model")["win_rate"].to_dict() == {
        "attentive": 1.0,
        "forgetful": 0.0,
    }
    overall = result.leaderboard.set_index("model")
    assert overall.loc["attentive", "win_rate"] == pytest.approx(0.75)
    assert result.stats["turns"] == 2 and result.stats["comparisons"] == 6

    con = duckdb.connect(str(db), read_only=True)
    counts = con.execute(
        "SELECT turn, count(*) FROM verdicts GROUP BY turn ORDER BY turn"
    ).fetchall()
    assert counts == [(1, 6), (2, 6)]
    assert con.execute("SELECT count(DISTINCT prompt_id) FROM outcomes").fetchone() == (3,)
    methods = {row[0] for row in con.execute("SELECT DISTINCT method FROM ratings").fetchall()}
    assert methods == {"bt", "bt@turn1", "bt@turn2"}
    turns = con.execute(
        "SELECT turns FROM candidates WHERE prompt_id = '2' AND model = 'forgetful'"
    )
    assert json.loads(turns.fetchone()[0]) == ["12 times 7 is 84.", "16 plus 12 is 28."]
    con.close()

    # A second run is answered from the store: the per-turn request hashes are stable.
    again = compare(MESSAGES, judge=ScriptedJudge([]), db=db, verdict="generate", bootstrap=0)
    assert again.stats["judge_calls_made"] == 0 and again.stats["judge_calls_cached"] == 9

    runner = CliRunner()
    shown = runner.invoke(cli, ["leaderboard", "--db", str(db), "--turn", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    payload = json.loads(shown.stdout)
    assert payload["turn"] == 2 and payload["leaderboard"][0]["model"] == "attentive"
    every = json.loads(runner.invoke(cli, ["leaderboard", "--db", str(db), "--json"]).stdout)
    assert {(r["turn"], r["model"]) for r in every["per_turn"]} == {
        (t, m) for t in (1, 2) for m in ("attentive", "forgetful")
    }
    table = runner.invoke(cli, ["leaderboard", "--db", str(db)])
    assert "turn 1" in table.stdout and "turn 2" in table.stdout and "all turns" in table.stdout
    missing = runner.invoke(cli, ["leaderboard", "--db", str(db), "--turn", "3"])
    assert missing.exit_code == 2 and "this run has 2 turn(s)" in missing.output
    bad = runner.invoke(cli, ["leaderboard", "--db", str(db), "--turn", "second"])
    assert bad.exit_code == 2 and "'all'" in bad.output


def test_compare_cli_prints_the_chosen_turn(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.duckdb")
    args = ["compare", *map(str, MESSAGES), "--judge", "fake/hash", "--db", db, "--bootstrap", "0"]
    result = CliRunner().invoke(cli, [*args, "--no-progress", "--turn", "2", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["turn"] == 2 and "per_turn" not in payload
    assert {r["n"] for r in payload["leaderboard"]} == {3}
    every = json.loads(CliRunner().invoke(cli, [*args, "--no-progress", "--json"]).stdout)
    assert {r["turn"] for r in every["per_turn"]} == {1, 2}
    assert {r["n"] for r in every["leaderboard"]} == {6}


def test_single_turn_features_refuse_conversations(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="listwise judges single turns"):
        compare(MESSAGES, judge="fake/hash", db=":memory:", protocol="listwise")
    with pytest.raises(ConfigError, match="adaptive judges single turns"):
        compare(MESSAGES, judge="fake/hash", db=":memory:", schedule="adaptive:4")


# -- grade: per-turn scores ---------------------------------------------------------------------


def test_multi_turn_grade_rates_turn_two_in_context(tmp_path: Path) -> None:
    second = {"attentive": 5, "forgetful": 2}
    prompts: list[str] = []

    def reply(request: JudgeRequest) -> str:
        text = request.messages[0].content
        prompts.append(text)
        if "Conversation with User|>" not in text:
            # Both models gave the same first answers.
            return "Feedback: fine. [RESULT] 5"
        # The math question shows reference answers too: find the model in its own block.
        block = _block(text, "Assistant")
        key = next(k for k, c in CONVERSATIONS.items() if c[3]["content"] in block)
        _check_turn_two(text, "Assistant", CONVERSATIONS[key])
        assert '"[[rating]]"' in text
        return f"The answer builds on turn 1. Rating: [[{second[key[1]]}]]"

    judge = ScriptedJudge(reply)
    result = grade(
        MESSAGES, rubric="helpfulness", judge=judge, db=tmp_path / "g.duckdb", bootstrap=0
    )
    # Turn 1: one request per distinct answer (both models answered alike); turn 2: one each.
    assert len(prompts) == 3 + 6
    frame = result.scores
    assert set(frame["turn"]) == {1, 2} and (frame["status"] == "ok").all()
    by_turn = {
        t: b.set_index("model")["score"].to_dict() for t, b in result.turn_leaderboards.items()
    }
    assert by_turn == {
        1: {"attentive": 5.0, "forgetful": 5.0},
        2: {"attentive": 5.0, "forgetful": 2.0},
    }
    # The overall mean is MT-Bench's average over every (question, turn) score.
    overall = result.leaderboard.set_index("model")
    assert overall.loc["forgetful", "score"] == pytest.approx((5 * 3 + 2 * 3) / 6)
    assert overall.loc["forgetful", "n"] == 6
    payload = result.to_json()
    assert {(r["turn"], r["model"]) for r in payload["per_turn"]} == {
        (t, m) for t in (1, 2) for m in ("attentive", "forgetful")
    }
    con = duckdb.connect(str(tmp_path / "g.duckdb"), read_only=True)
    stored = con.execute("SELECT turn, count(*) FROM scores GROUP BY turn ORDER BY turn").fetchall()
    methods = {r[0] for r in con.execute("SELECT DISTINCT method FROM ratings").fetchall()}
    con.close()
    assert stored == [(1, 6), (2, 6)]
    assert {"mean:overall", "mean:overall@turn1", "mean:overall@turn2"} <= methods


def test_grade_cli_prints_the_chosen_turn(tmp_path: Path) -> None:
    db = str(tmp_path / "g.duckdb")
    args = ["grade", *map(str, MESSAGES), "--rubric", "helpfulness", "--judge", "fake/hash"]
    args += ["--db", db, "--bootstrap", "0", "--no-progress"]
    one = CliRunner().invoke(cli, [*args, "--turn", "2", "--json"])
    assert one.exit_code == 0, one.output
    payload = json.loads(one.stdout)
    assert payload["turn"] == 2 and "criteria" not in payload
    assert {r["n"] for r in payload["leaderboard"]} == {3}
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    shown = " ".join(table.stdout.split())  # titles wrap at the terminal width
    for title in ("turn 1", "turn 2", "all turns"):
        assert f"rubric helpfulness · fake/hash · {title}" in shown


# -- store migration ----------------------------------------------------------------------------


def test_turn_migration_keeps_old_rows_as_turn_one(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE _judgekit_migrations "
        "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    for name, fn in MIGRATIONS:
        if name == "m040_turns":
            continue
        fn(con)
        con.execute("INSERT INTO _judgekit_migrations VALUES (?, now())", [name])
    con.execute(
        "INSERT INTO verdicts VALUES "
        "('r', 'p', 'a', 'b', 'ab', 'h', 'ok', 1, 0, 0, true, 'A', NULL)"
    )
    con.execute("INSERT INTO scores VALUES ('r', 'p', 'a', 'c', 4, NULL, 'ok', '', 'h', NULL)")
    con.close()
    with open_store(path) as store:
        with store.connect() as c:
            assert c.execute("SELECT turn FROM verdicts").fetchall() == [(1,)]
            assert c.execute("SELECT turn FROM scores").fetchall() == [(1,)]
            # The turn joins the key: turn 2 of the same comparison is a row of its own ...
            c.execute(
                "INSERT INTO verdicts (run_id, prompt_id, model_a, model_b, position_order, "
                "request_hash, status, turn) VALUES ('r', 'p', 'a', 'b', 'ab', 'h2', 'ok', 2)"
            )
            # ... and a second turn-1 row is still a duplicate.
            with pytest.raises(duckdb.ConstraintException):
                c.execute(
                    "INSERT INTO verdicts (run_id, prompt_id, model_a, model_b, position_order, "
                    "request_hash, status) VALUES ('r', 'p', 'a', 'b', 'ab', 'h3', 'ok')"
                )


# -- MT-Bench import ----------------------------------------------------------------------------


def test_import_mtbench_keeps_both_turns_and_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "outputs.jsonl"
    args = ["import", "mtbench", *map(str, ANSWERS), "--questions", str(QUESTIONS), "-o", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = load_outputs([out])
    assert data.multi_turn and set(data.items) == {"1", "2", "3"}
    assert data.items["2"].reference_turns == ("12 times 7 is 84.", "84 plus 16 is 100.")
    assert load_outputs(MESSAGES).digest() == data.digest()
    # Back to FastChat's files and in again: nothing lost.
    frame = mt.read_mtbench(QUESTIONS, ANSWERS)
    mt.write_mtbench_questions(frame, tmp_path / "question.jsonl")
    written = mt.write_mtbench_answers(frame, tmp_path / "model_answer")
    again = mt.read_mtbench(tmp_path / "question.jsonl", written)
    pd.testing.assert_frame_equal(again, frame)
    answer = json.loads(written[0].read_text().splitlines()[0])
    assert len(answer["choices"][0]["turns"]) == 2
    # --turn 1 keeps the first turn only, as before; CSV cannot hold a conversation.
    first = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "t1.jsonl"), "--turn", "1"])
    assert first.exit_code == 0 and not load_outputs([tmp_path / "t1.jsonl"]).multi_turn
    csv = CliRunner().invoke(cli, [*args[:-1], str(tmp_path / "o.csv")])
    assert csv.exit_code == 2 and ".jsonl" in csv.output


def test_import_mtbench_refuses_answers_with_missing_turns(tmp_path: Path) -> None:
    row = json.loads(ANSWERS[0].read_text().splitlines()[1])
    row["choices"][0]["turns"] = row["choices"][0]["turns"][:1]
    bad = write_jsonl(tmp_path / "short.jsonl", [row])
    with pytest.raises(InputError, match=re.escape(f"{bad}:1: model 'attentive' answers 1 turn")):
        mt.read_mtbench(QUESTIONS, [bad])


def test_export_mtbench_writes_one_line_per_turn(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    compare(
        MESSAGES, judge=ScriptedJudge(_pairwise_script([])), db=db, verdict="generate", bootstrap=0
    )
    out = tmp_path / "pair.jsonl"
    result = CliRunner().invoke(
        cli, ["export", "--db", str(db), "--format", "mtbench", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    verdicts = mt.read_mtbench_pair_judgments(out)
    assert sorted(set(zip(verdicts["prompt_id"], verdicts["turn"], strict=True))) == [
        ("1", 1),
        ("1-turn2", 2),
        ("2", 1),
        ("2-turn2", 2),
        ("3", 1),
        ("3-turn2", 2),
    ]
    second = verdicts[verdicts["turn"] == 2]
    assert set(second["winner"]) == {"model_a"} or set(second["winner"]) == {"model_b"}
