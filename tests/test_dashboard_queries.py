"""The dashboard's read and compute layer (judgekit.store.dashboard_queries, judgekit.views)
against a store filled by scripted-judge runs, plus the pure helpers on hand-made frames."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import judgekit
from judgekit import views
from judgekit.judges.fakes import HashJudge, ScriptedJudge
from judgekit.rank import PairwiseData, bradley_terry
from judgekit.runs.grade import grade
from judgekit.store import dashboard_queries as dq
from judgekit.store import queries
from judgekit.store.db import Store, open_store
from judgekit.types import JudgeRequest, JudgeResponse, unsealed_text

# -- a store filled by scripted-judge runs (shared with the app and browser tests) ---------

#: A model whose name and answers carry hostile markup: it must show up as inert text.
MALLORY = 'mallory<img src=z onerror="window.__img = 3">'
#: Hidden strengths the scripted judge follows.
STRENGTH = {"atlas": 3, "beacon": 2, "comet": 1, MALLORY: 0}
CATEGORIES = {"facts": ["f1", "f2", "f3"], "writing": ["w1", "w2", "w3"], "code": ["c1", "c2"]}
#: One prompt is hostile too (prompts are shown in the drill-down's picker and body).
XSS_PROMPT = "Explain [this link](javascript:window.__clicked=4) <script>window.__pwned=4</script>"
XSS_OUTPUT = (
    '<script>window.__pwned = 1</script> <img src=x onerror="window.__img = 1"> '
    "[click me](javascript:window.__clicked=1) **bold** # heading"
)
XSS_RATIONALE = (
    "Response {w} is better. <script>window.__pwned = 2</script>"
    '<img src=y onerror="window.__img = 2"> [proof](javascript:window.__clicked=2) [[{w}]]'
)


def _answer(model: str, prompt_id: str) -> str:
    if model == MALLORY:
        return f"{XSS_OUTPUT} ({prompt_id})"
    # Stronger models write longer answers, so the judge shows a length preference.
    body = " ".join(["detail"] * (2 * STRENGTH[model] + 1))
    return f"{model.title()} on {prompt_id}: {body}."


def arena_frame() -> pd.DataFrame:
    """Four models answering eight prompts in three categories."""
    rows = []
    for category, prompt_ids in CATEGORIES.items():
        for pid in prompt_ids:
            for model in STRENGTH:
                rows.append(
                    {
                        "prompt_id": pid,
                        "prompt": XSS_PROMPT
                        if pid == "c2"
                        else f"Question {pid} about {category}?",
                        "category": category,
                        "model": model,
                        "output": _answer(model, pid),
                    }
                )
    return pd.DataFrame(rows)


def _needle(model: str) -> str:
    return "window.__pwned = 1" if model == MALLORY else f"{model.title()} on "


def _shown(request: JudgeRequest) -> list[str]:
    """The models whose answers a request shows, in the order shown."""
    text = request.messages[-1].content
    at = {m: text.find(_needle(m)) for m in STRENGTH}
    return sorted((m for m in at if at[m] >= 0), key=at.__getitem__)


def pairwise_script(request: JudgeRequest) -> JudgeResponse:
    """Prefers the stronger model, with a position-bias flip and a parse failure now and
    then (seeded by the request), a rationale full of markup, and usage figures."""
    first, second = _shown(request)
    # Seeded without the fence tags, which are new on every call.
    content = unsealed_text(request.messages[-1].content)
    digest = int(hashlib.sha256(content.encode()).hexdigest(), 16)
    if digest % 13 == 0:
        text = "I cannot decide between these."
    else:
        # The position bias hits only the weakest model shown first against the next
        # weakest, so that the flips and ties it causes cannot reorder the models whatever
        # the prompt text hashes to (comet still does at least as well in every match-up).
        biased = first == MALLORY and second == "comet" and digest % 2 == 0
        if biased or STRENGTH[first] > STRENGTH[second]:
            letter = "A"
        elif STRENGTH[first] == STRENGTH[second]:
            letter = "C"
        else:
            letter = "B"
        text = XSS_RATIONALE.format(w=letter)
    return JudgeResponse(
        text=text,
        latency_s=0.1 + (digest % 7) / 100,
        prompt_tokens=len(request.messages[-1].content) // 4,
        completion_tokens=30,
        cost=0.0002,
    )


def _grade_script(request: JudgeRequest) -> JudgeResponse:
    """Scores 2 to 5 by strength, as a peaked distribution over the scale."""
    (model,) = _shown(request)
    top = str(2 + STRENGTH[model])
    probs = {str(k): (0.6 if str(k) == top else 0.1) for k in range(1, 6)}
    return JudgeResponse(text=top, choice_probs=probs)


def usable_comparisons(path: Path, run_id: str, *, category: str | None = None) -> int:
    """Comparisons of a run that were not lost to a parse failure (hashes decide which)."""
    with open_store(path, read_only=True) as store:
        frame = queries.outcomes(store, run_id=run_id)
    if category is not None:
        frame = frame[frame["prompt_id"].isin(CATEGORIES[category])]
    return int((frame["status"] == "ok").sum())


def build_store(path: Path) -> dict[str, str]:
    """Fill a store with a grade run, a hash-judge pairwise run and, newest, a scripted-judge
    pairwise run; return their run ids by name."""
    frame = arena_frame()
    graded = grade(
        frame,
        rubric="helpfulness",
        judge=ScriptedJudge(_grade_script, supports_logprobs=True),
        db=path,
        bootstrap=50,
    )
    hashed = judgekit.compare(frame, judge=HashJudge(), db=path, bootstrap=200)
    scripted = judgekit.compare(frame, judge=ScriptedJudge(pairwise_script), db=path, bootstrap=200)
    return {"scripted": scripted.run_id, "hash": hashed.run_id, "grade": graded.run_id}


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("dash") / "store.duckdb"
    return path, build_store(path)


def _reader(path: Path) -> Store:
    return open_store(path, read_only=True)


# -- store status -----------------------------------------------------------------------


def test_store_status_of_a_filled_store_is_ok(filled: tuple[Path, dict[str, str]]) -> None:
    path, _ = filled
    assert views.store_status(path) == views.StoreStatus("ok", "", writing=False)


def test_store_status_says_writing_while_a_run_holds_the_writer_lock(
    filled: tuple[Path, dict[str, str]],
) -> None:
    path, _ = filled
    with open_store(path) as writer, writer.writer_lock():
        status = views.store_status(path)
    assert (status.state, status.writing) == ("ok", True)
    assert views.store_status(path).writing is False


def test_store_status_of_missing_empty_runless_and_newer_stores(tmp_path: Path) -> None:
    missing = views.store_status(tmp_path / "nope.duckdb")
    assert missing.state == "missing" and "nope.duckdb" in missing.message

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert views.store_status(empty).state == "empty"

    runless = tmp_path / "runless.duckdb"
    open_store(runless).close()
    assert views.store_status(runless).state == "no-runs"

    newer = tmp_path / "newer.duckdb"
    open_store(newer).close()
    con = duckdb.connect(str(newer))
    con.execute("INSERT INTO _judgekit_migrations VALUES ('m999_from_the_future', now())")
    con.close()
    status = views.store_status(newer)
    assert status.state == "newer" and "upgrade judgekit" in status.message

    # A store from an older judgekit: shown as it is while it has every table the dashboard
    # reads, and sent for an upgrade when it lacks some.
    old = tmp_path / "old.duckdb"
    open_store(old).close()
    con = duckdb.connect(str(old))
    con.execute("DELETE FROM _judgekit_migrations WHERE name = 'm002_checklists'")
    con.execute(
        "INSERT INTO runs VALUES ('r', 'compare', 'finished', '{}', NULL, NULL, now(), now())"
    )
    con.close()
    assert views.store_status(old).state == "ok"
    con = duckdb.connect(str(old))
    con.execute("DROP TABLE checklist_answers")
    con.close()
    status = views.store_status(old)
    assert status.state == "old" and "older judgekit" in status.message


def test_runs_decode_a_running_run_without_stats(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        done = store.create_run(kind="compare", config={"judge": "j"}, run_id="done")
        store.finish_run(done, stats={"comparisons": 3})
        store.create_run(kind="compare", config={"judge": "j"}, run_id="running")
    with _reader(path) as store:
        frame = dq.runs(store).set_index("run_id")
        table = views.runs_table(store).set_index("run_id")
    assert frame.loc["running", "stats"] == {} and frame.loc["done", "stats"] == {"comparisons": 3}
    assert table.loc["running", "status"] == "running" and table.loc["running", "size"] == ""


def test_the_read_layer_does_not_import_streamlit() -> None:
    code = (
        "import sys, judgekit.views, judgekit.commands.dashboard\n"
        "assert 'streamlit' not in sys.modules and 'plotly' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- runs and methods -------------------------------------------------------------------


def test_runs_table_lists_every_run_newest_first(filled: tuple[Path, dict[str, str]]) -> None:
    path, ids = filled
    with _reader(path) as store:
        table = views.runs_table(store)
    assert list(table["run_id"]) == [ids["scripted"], ids["hash"], ids["grade"]]
    assert list(table["kind"]) == ["compare", "compare", "grade"]
    assert list(table["judge"]) == ["fake/scripted", "fake/hash", "fake/scripted"]
    assert list(table["size"]) == ["48 comparisons", "48 comparisons", "32 responses"]
    assert table["setup"].iloc[2] == "rubric=helpfulness, mode=logprobs"


def test_method_choices_offer_rankers_for_pairwise_runs_and_scores_for_grade_runs(
    filled: tuple[Path, dict[str, str]],
) -> None:
    path, ids = filled
    with _reader(path) as store:
        assert views.method_choices(store, run_id=ids["scripted"]) == list(views.PAIRWISE_METHODS)
        assert views.method_choices(store, run_id=ids["grade"]) == [
            "mean:helpfulness",
            "mean:overall",
        ]
    assert views.method_family("mean:helpfulness") == "mean"
    assert views.method_family("bt-style") == "bt-style"
    assert views.method_label("mean:helpfulness") == "Mean rubric score · helpfulness"
    assert views.method_label("pl") == "Plackett-Luce"


# -- leaderboards -----------------------------------------------------------------------


def test_stored_bt_board_is_the_one_the_cli_prints(filled: tuple[Path, dict[str, str]]) -> None:
    path, ids = filled
    with _reader(path) as store:
        board = views.leaderboard(store, run_id=ids["scripted"], method="bt")
        cli = queries.leaderboard(store, run_id=ids["scripted"], method="bt")
    assert not board.computed and board.scale == "elo"
    pd.testing.assert_frame_equal(board.frame, cli[views.BOARD_COLUMNS], check_dtype=False)
    assert list(board.frame["model"]) == ["atlas", "beacon", "comet", MALLORY]


@pytest.mark.parametrize("method", views.PAIRWISE_METHODS)
def test_every_pairwise_method_ranks_the_stored_outcomes(
    filled: tuple[Path, dict[str, str]], method: str
) -> None:
    path, ids = filled
    with _reader(path) as store:
        board = views.leaderboard(store, run_id=ids["scripted"], method=method)
    frame = board.frame
    assert set(frame["model"]) == set(STRENGTH)
    assert (frame["ci_low"] <= frame["rating"] + 1e-9).all()
    assert (frame["rating"] <= frame["ci_high"] + 1e-9).all()
    assert frame["rank"].min() == 1 and (frame["n"] > 0).all()
    if method != "bt-style":  # style control may move models: length tracks strength here
        assert list(frame["model"]) == ["atlas", "beacon", "comet", MALLORY]
    else:
        assert any(note.startswith("Style coefficients") for note in board.notes)


def test_category_board_ranks_only_that_category(filled: tuple[Path, dict[str, str]]) -> None:
    path, ids = filled
    with _reader(path) as store:
        board = views.leaderboard(store, run_id=ids["scripted"], method="bt", category="facts")
        outcomes = dq.pairwise_outcomes(store, run_id=ids["scripted"], category="facts")
    assert board.computed
    assert set(outcomes["category"]) == {"facts"}
    usable = int((outcomes["status"] == "ok").sum())
    # Every usable comparison counts once for each of its two models.
    assert int(board.frame["n"].sum()) == 2 * usable
    expected = views.rank_outcomes(outcomes, method="bt", rounds=200)  # the run's bootstrap
    pd.testing.assert_frame_equal(board.frame, expected.frame)


def test_score_boards_read_stored_means_and_recompute_per_category(
    filled: tuple[Path, dict[str, str]],
) -> None:
    path, ids = filled
    with _reader(path) as store:
        stored = views.leaderboard(store, run_id=ids["grade"], method="mean:helpfulness")
        facts = views.leaderboard(
            store, run_id=ids["grade"], method="mean:overall", category="facts"
        )
    assert stored.scale == "score" and not stored.computed
    # The scripted grader peaks at 2 + strength, with 0.1 on each other score.
    expected = {m: 0.6 * (2 + s) + 0.1 * (15 - (2 + s)) for m, s in STRENGTH.items()}
    got = dict(zip(stored.frame["model"], stored.frame["rating"], strict=True))
    assert got == pytest.approx(expected)
    assert facts.computed and list(facts.frame["n"]) == [3, 3, 3, 3]
    assert dict(zip(facts.frame["model"], facts.frame["rating"], strict=True)) == pytest.approx(
        expected
    )


def test_rank_outcomes_without_usable_comparisons_says_so() -> None:
    frame = pd.DataFrame(
        {
            "model_a": ["x"],
            "model_b": ["y"],
            "win_a": [0.0],
            "win_b": [0.0],
            "tie": [0.0],
            "status": ["parse_error"],
        }
    )
    board = views.rank_outcomes(frame, method="bt")
    assert board.frame.empty and board.notes == ("No usable comparisons for this selection.",)


def _outcomes(rows: list[tuple[str, str, float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model_a", "model_b", "win_a", "win_b", "tie"]).assign(
        status="ok", flipped=False
    )


def test_style_features_leave_out_constant_columns_and_none_when_nothing_varies() -> None:
    frame = _outcomes([("x", "y", 1, 0, 0), ("y", "x", 0.2, 0.7, 0.1)])
    data = PairwiseData.from_frame(frame)
    plain = frame.assign(output_a=["same words", "same words"], output_b=["same words"] * 2)
    assert views.with_style_features(data, plain) is None
    styled = frame.assign(output_a=["a much longer answer here", "short"], output_b=["b", "c d"])
    result = views.with_style_features(data, styled)
    assert result is not None and result.feature_names == ("length",)
    assert result.features is not None and result.features.shape == (2, 1)


def test_hard_outcomes_keep_the_most_likely_result() -> None:
    data = PairwiseData.from_frame(
        _outcomes([("x", "y", 0.6, 0.3, 0.1), ("x", "y", 0.2, 0.5, 0.3), ("x", "y", 0.4, 0.4, 0.2)])
    )
    hard = views.hard_outcomes(data)
    assert hard.is_hard
    assert hard.win_a.tolist() == [1, 0, 0]
    assert hard.win_b.tolist() == [0, 1, 0]
    assert hard.tie.tolist() == [0, 0, 1]


def test_display_board_formats_ratings_cis_and_win_rates() -> None:
    frame = pd.DataFrame(
        {
            "rank": [1, 2],
            "model": ["x", "y"],
            "rating": [1012.345, 987.65],
            "ci_low": [1001.04, np.nan],
            "ci_high": [1030.96, np.nan],
            "win_rate": [0.5412, 0.4588],
            "n": [20.0, 20.0],
        }
    )
    table = views.display_board(views.Board(frame, "bt", computed=False))
    assert list(table.columns) == ["Rank", "Model", "Rating", "95 % CI", "Win rate", "Comparisons"]
    assert table["95 % CI"].tolist() == ["1001.0 – 1031.0", "–"]
    assert table["Rating"].tolist() == [1012.3, 987.6]
    assert table["Win rate"].tolist() == [54.1, 45.9]
    scores = views.display_board(views.Board(frame, "mean:x", computed=False, scale="score"))
    assert list(scores.columns) == ["Rank", "Model", "Score", "95 % CI", "Responses"]
    assert scores["95 % CI"].iloc[0] == "1001.04 – 1030.96"


def test_escaping_helpers_leave_no_markup() -> None:
    assert views.markdown_escape("[x](javascript:alert(1))") == (r"\[x\]\(javascript\:alert\(1\)\)")
    assert views.markdown_escape("<b>*hi*</b> $x$") == r"\<b\>\*hi\*\</b\> \$x\$"
    assert views.inert_label('<img src=x onerror="a()">') == '&lt;img src=x onerror="a()"&gt;'
    assert views.inert_label("m" * 40, max_chars=10) == "m" * 9 + "…"
    assert views.format_ci(None, 3.0) == "–"
    assert views.format_ci(1.0, 2.25, decimals=2) == "1.00 – 2.25"


# -- head to head -----------------------------------------------------------------------


def test_win_matrix_counts_ties_half_and_mirrors_cells() -> None:
    frame = _outcomes([("x", "y", 1, 0, 0), ("y", "x", 0, 0, 1), ("x", "z", 0.2, 0.8, 0)])
    scores, counts = views.win_matrix(frame)
    assert scores.loc["x", "y"] == pytest.approx(0.75)
    assert scores.loc["y", "x"] == pytest.approx(0.25)
    assert scores.loc["x", "z"] == pytest.approx(0.2)
    assert math.isnan(scores.loc["y", "z"]) and math.isnan(scores.loc["x", "x"])
    assert counts.loc["x", "y"] == 2 and counts.loc["y", "z"] == 0


def test_predicted_win_matrix_matches_the_bt_fit() -> None:
    # Three wins to one: the Bradley-Terry MLE predicts exactly 3/4.
    frame = _outcomes([("x", "y", 1, 0, 0)] * 3 + [("x", "y", 0, 1, 0)])
    board = views.rank_outcomes(frame, method="bt", rounds=0)
    predicted = views.predicted_win_matrix(board)
    assert predicted.loc["x", "y"] == pytest.approx(0.75, abs=1e-6)
    assert predicted.loc["y", "x"] == pytest.approx(0.25, abs=1e-6)
    assert math.isnan(predicted.loc["x", "x"])
    ratings = bradley_terry(PairwiseData.from_frame(frame))
    gap = ratings.rating[0] - ratings.rating[1]
    assert 1 / (1 + 10 ** (-gap / 400)) == pytest.approx(0.75, abs=1e-6)


def test_head_to_head_of_a_run(filled: tuple[Path, dict[str, str]]) -> None:
    path, ids = filled
    with _reader(path) as store:
        result = views.head_to_head(store, run_id=ids["scripted"])
        assert views.head_to_head(store, run_id=ids["grade"]) is None
    assert result is not None
    observed = result.observed.to_numpy()
    off = ~np.eye(len(observed), dtype=bool)
    assert np.allclose(observed[off] + observed.T[off], 1.0)
    predicted = result.predicted.to_numpy()
    assert np.allclose(predicted[off] + predicted.T[off], 1.0)
    assert result.predicted.loc["atlas", MALLORY] > 0.9
    # Every usable comparison fills two cells of the count matrix.
    assert result.counts.to_numpy().sum() == 2 * usable_comparisons(path, ids["scripted"])


# -- judge quality ----------------------------------------------------------------------


def test_length_bias_and_wilson_interval() -> None:
    frame = _outcomes(
        [("x", "y", 1, 0, 0), ("x", "y", 1, 0, 0), ("x", "y", 0, 1, 0), ("x", "y", 0, 0, 1)]
    ).assign(len_a=[10, 10, 10, 10], len_b=[5, 5, 5, 5])
    frame.loc[len(frame)] = ["x", "y", 0.0, 1.0, 0.0, "ok", False, 7, 7]  # same length: out
    bias = views.length_bias(frame)
    assert bias["n"] == 3 and bias["share"] == pytest.approx(2 / 3)
    low, high = views.wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert all(math.isnan(v) for v in views.wilson_interval(0, 0))


def test_position_preference_counts_decisive_per_order_verdicts() -> None:
    verdicts = pd.DataFrame(
        {
            "status": ["ok", "ok", "ok", "parse_error"],
            "p_first": [0.9, 0.1, 0.3, 0.0],
            "p_second": [0.1, 0.8, 0.3, 0.0],
            "p_tie": [0.0, 0.1, 0.4, 0.0],
        }
    )
    pref = views.position_preference(verdicts)
    assert pref["n"] == 2 and pref["share"] == pytest.approx(0.5)


def test_judge_usage_sums_per_judge_and_keeps_unknown_as_nan() -> None:
    calls = pd.DataFrame(
        {
            "judge_id": ["a", "a", "b"],
            "status": ["ok", "error", "ok"],
            "latency_s": [0.1, 0.3, 1.0],
            "prompt_tokens": [10, 20, None],
            "completion_tokens": [1, 2, None],
            "cost": [0.5, 0.25, None],
        }
    )
    usage = views.judge_usage(calls).set_index("judge")
    assert usage.loc["a", "calls"] == 2 and usage.loc["a", "failed"] == 1
    assert usage.loc["a", "mean_latency_s"] == pytest.approx(0.2)
    assert usage.loc["a", "prompt_tokens"] == 30 and usage.loc["a", "cost"] == 0.75
    assert math.isnan(usage.loc["b", "prompt_tokens"]) and math.isnan(usage.loc["b", "cost"])


def test_human_agreement_turns_swapped_labels_around_and_computes_kappa() -> None:
    outcomes = _outcomes(
        [("x", "y", 1, 0, 0), ("x", "y", 0, 1, 0), ("x", "z", 0, 0, 1), ("y", "z", 1, 0, 0)]
    ).assign(prompt_id=["p1", "p2", "p1", "p1"])
    labels = pd.DataFrame(
        {
            "prompt_id": ["p1", "p2", "p1", "p9"],
            "model_a": ["y", "x", "x", "y"],  # the first label names the models swapped
            "model_b": ["x", "y", "z", "z"],
            "winner": ["model_b", "model_a", "tie", "model_a"],
        }
    )
    table = views.human_agreement(outcomes, labels).set_index("metric")
    # p1 x-y: judge a, human (swapped) a: agree; p2: judge b, human a; p1 x-z: both tie.
    assert table.loc["labelled comparisons", "value"] == 3
    assert table.loc["agreement with humans", "value"] == pytest.approx(2 / 3)
    # Judge a,b,tie; human a,a,tie: p_e = (1/3*2/3) + (1/3*0) + (1/3*1/3) = 1/3.
    assert table.loc["Cohen's kappa", "value"] == pytest.approx((2 / 3 - 1 / 3) / (2 / 3))
    # Weights count: the disagreeing label weighing 2 of 4 halves the agreement.
    weighted = views.human_agreement(outcomes, labels.assign(weight=[1.0, 2.0, 1.0, 1.0]))
    assert weighted.set_index("metric").loc["agreement with humans", "value"] == 0.5


def test_judge_quality_of_a_run_matches_the_run_stats(
    filled: tuple[Path, dict[str, str]],
) -> None:
    path, ids = filled
    with _reader(path) as store:
        quality = views.judge_quality(store, run_id=ids["scripted"])
        stats = dq.run_info(store, run_id=ids["scripted"])["stats"]
    metrics = quality.metrics.set_index("metric")["value"]
    assert metrics["position flip rate"] == pytest.approx(stats["flip_rate"])
    assert metrics["parse-failure rate"] == pytest.approx(stats["parse_failures"] / 96)
    assert metrics["judge-error rate"] == 0
    assert quality.human is None
    usage = quality.usage.set_index("judge")
    assert usage.loc["fake/scripted", "calls"] == stats["judge_calls_unique"]
    assert usage.loc["fake/scripted", "cost"] == pytest.approx(0.0002 * 96)
    assert usage.loc["fake/scripted", "completion_tokens"] == 30 * 96


def test_judge_quality_uses_human_labels_when_the_run_has_them(
    filled: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    source, ids = filled
    path = tmp_path / "labelled.duckdb"
    path.write_bytes(source.read_bytes())
    con = duckdb.connect(str(path))
    # The table the meta-evaluation stores labels in (created here if the schema lacks it).
    con.execute(
        "CREATE TABLE IF NOT EXISTS meta_human_labels (run_id VARCHAR, prompt_id VARCHAR, "
        "model_a VARCHAR, model_b VARCHAR, winner VARCHAR, annotator VARCHAR, weight DOUBLE, "
        "source VARCHAR)"
    )
    con.execute(
        "INSERT INTO meta_human_labels (run_id, prompt_id, model_a, model_b, winner, weight) "
        "SELECT run_id, prompt_id, model_a, model_b, 'model_a', 1.0 FROM outcomes "
        "WHERE run_id = ?",
        [ids["scripted"]],
    )
    con.close()
    with _reader(path) as store:
        quality = views.judge_quality(store, run_id=ids["scripted"])
        outcomes = dq.pairwise_outcomes(store, run_id=ids["scripted"])
        assert dq.human_labels(store, run_id=ids["hash"]) is None  # labels belong to a run
    assert quality.human is not None
    table = quality.human.set_index("metric")["value"]
    ok = outcomes[outcomes["status"] == "ok"]
    judge_a = views.outcome_winner(ok["win_a"], ok["win_b"], ok["tie"]) == "a"
    assert table["labelled comparisons"] == len(ok)
    assert table["agreement with humans"] == pytest.approx(judge_a.mean())


def test_judge_quality_of_a_grade_run_reports_score_failures(
    filled: tuple[Path, dict[str, str]],
) -> None:
    path, ids = filled
    with _reader(path) as store:
        quality = views.judge_quality(store, run_id=ids["grade"])
    assert quality.metrics["metric"].tolist() == ["score parse-failure rate"]
    assert quality.usage["calls"].tolist() == [32]


# -- drill-down -------------------------------------------------------------------------


def test_prompt_detail_maps_orders_to_models(filled: tuple[Path, dict[str, str]]) -> None:
    path, ids = filled
    with _reader(path) as store:
        detail = views.prompt_detail(store, run_id=ids["scripted"], prompt_id="f1")
        assert views.prompt_detail(store, run_id=ids["scripted"], prompt_id="zz") is None
    assert detail is not None
    assert detail.item["category"] == "facts"
    assert set(detail.candidates["model"]) == set(STRENGTH)
    assert detail.candidates.set_index("model").loc[MALLORY, "output"].startswith("<script>")
    assert len(detail.verdicts) == 12 and len(detail.outcomes) == 6
    pair = detail.verdicts[detail.verdicts["pair"] == "atlas vs beacon"].set_index("order")
    assert pair.loc["ab", "shown first"] == "atlas" and pair.loc["ba", "shown first"] == "beacon"
    for order in ("ab", "ba"):
        row = pair.loc[order]
        if row["verdict"] not in ("tie", "parse_error"):
            shown = row["shown first"] if row["P(first)"] == 1 else row["shown second"]
            assert row["verdict"] == shown
        assert row["judge reply"]  # the rationale (or the unparseable reply) is kept


def test_order_and_outcome_tables_name_the_winner() -> None:
    verdicts = pd.DataFrame(
        {
            "model_a": ["x", "x"],
            "model_b": ["y", "y"],
            "position_order": ["ab", "ba"],
            "status": ["ok", "parse_error"],
            "p_first": [0.2, 0.0],
            "p_second": [0.7, 0.0],
            "p_tie": [0.1, 0.0],
            "raw": ["B is better [[B]]", "???"],
            "error": [None, None],
        }
    )
    table = views.order_table(verdicts)
    assert table["verdict"].tolist() == ["y", "parse_error"]
    assert table["shown first"].tolist() == ["x", "y"]
    outcomes = _outcomes([("x", "y", 0.1, 0.2, 0.7)])
    assert views.outcome_table(outcomes)["winner"].tolist() == ["tie"]


# -- runs -------------------------------------------------------------------------------


def test_compare_boards_reports_rank_moves() -> None:
    def board(models: list[str], ranks: list[int]) -> views.Board:
        frame = pd.DataFrame(
            {"model": models, "rank": ranks, "rating": [1100.0 - 50 * r for r in ranks]}
        )
        return views.Board(frame.reindex(columns=views.BOARD_COLUMNS), "bt", computed=False)

    changes = views.compare_boards(
        board(["x", "y", "z"], [1, 2, 3]), board(["y", "x", "w"], [1, 2, 3])
    )
    rows = changes.set_index("model")
    assert rows.loc["y", "rank_change"] == 1 and rows.loc["x", "rank_change"] == -1
    assert rows.loc["x", "rating_change"] == pytest.approx(-50)
    assert pd.isna(rows.loc["z", "rank_after"]) and pd.isna(rows.loc["w", "rank_before"])
    assert changes["model"].tolist()[:3] == ["y", "x", "w"]


def test_compare_runs_of_two_pairwise_runs(filled: tuple[Path, dict[str, str]]) -> None:
    path, ids = filled
    with _reader(path) as store:
        result = views.compare_runs(store, before=ids["hash"], after=ids["scripted"])
    assert set(result.changes["model"]) == set(STRENGTH)
    top = result.changes.set_index("model").loc["atlas"]
    assert top["rank_after"] == 1
    assert top["rank_change"] == top["rank_before"] - 1


# -- queries ----------------------------------------------------------------------------


def test_queries_link_calls_lengths_and_prompts(filled: tuple[Path, dict[str, str]]) -> None:
    path, ids = filled
    with _reader(path) as store:
        calls = dq.run_calls(store, run_id=ids["hash"])
        outcomes = dq.pairwise_outcomes(store, run_id=ids["scripted"], texts=True)
        prompts = dq.prompts(store, run_id=ids["scripted"])
        assert dq.human_labels(store, run_id=ids["scripted"]) is None
        assert dq.outcome_count(store, run_id=ids["grade"]) == 0
        assert dq.categories(store, run_id=ids["scripted"]) == ["code", "facts", "writing"]
        assert dq.schema_state(store) == "current"
    assert set(calls["judge_id"]) == {"fake/hash"} and len(calls) <= 96
    assert (outcomes["len_a"] == outcomes["output_a"].str.len()).all()
    assert len(prompts) == 8 and prompts.set_index("prompt_id").loc["c2", "prompt"] == XSS_PROMPT
