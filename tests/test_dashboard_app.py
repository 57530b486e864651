"""The Streamlit dashboard under ``streamlit.testing.v1.AppTest``: every page against a store
filled by scripted-judge runs, hostile text kept inert, helpful pages for stores that cannot
be shown, the run-in-progress states, and the ``judgekit dashboard`` command."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import duckdb
import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from streamlit.testing.v1 import AppTest  # noqa: E402

from judgekit import views  # noqa: E402
from judgekit.commands import dashboard as dashboard_command  # noqa: E402
from judgekit.store.db import open_store  # noqa: E402
from tests.test_dashboard_queries import (  # noqa: E402
    MALLORY,
    XSS_OUTPUT,
    XSS_PROMPT,
    build_store,
    usable_comparisons,
)

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
PAGES = {
    "Leaderboard": "pages/leaderboard.py",
    "Head to head": "pages/head_to_head.py",
    "Judge quality": "pages/judge_quality.py",
    "Drill-down": "pages/drill_down.py",
    "Runs": "pages/runs.py",
}
# Elements whose text Streamlit renders as markdown (widget labels included).
MARKDOWN_ELEMENTS = ("markdown", "caption", "title", "header", "subheader")
ALERTS = ("info", "warning", "error", "success")
TIMEOUT_S = 90


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("dash-app") / "store.duckdb"
    return path, build_store(path)


def _app(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("JUDGEKIT_DB", str(db))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    return at


def _page(at: AppTest, title: str) -> AppTest:
    at.switch_page(PAGES[title]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [title]
    return at


def _texts(at: AppTest, kinds: tuple[str, ...]) -> list[str]:
    return [str(el.value) for kind in kinds for el in getattr(at, kind)]


def _select(at: AppTest, label: str) -> Any:
    return next(s for s in at.selectbox if s.label == label)


def _plotly_specs(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _array(value: Any) -> np.ndarray:
    """A plotly array from a figure's JSON, which packs numbers as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value.get("shape", len(flat))).split(",")])
    return np.asarray(value, dtype=float)


# -- every page against a filled store ------------------------------------------------------


def test_leaderboard_page_shows_the_stored_bt_board(
    filled: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = filled
    at = _page(_app(path, monkeypatch), "Leaderboard")
    assert _select(at, "Run").value == ids["scripted"]  # newest run first
    with open_store(path, read_only=True) as store:
        board = views.leaderboard(store, run_id=ids["scripted"], method="bt")
    top = board.frame.iloc[0]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Top model"] == "atlas"
    assert metrics["Rating"] == f"{top['rating']:.1f}"
    assert metrics["95 % CI"] == views.format_ci(top["ci_low"], top["ci_high"])
    table = at.dataframe[0].value
    assert table.equals(views.display_board(board))
    (chart,) = _plotly_specs(at)
    assert chart["data"][0]["error_x"]["visible"] is True
    assert chart["data"][0]["y"][0] == views.inert_label(MALLORY)  # worst at the bottom


def test_leaderboard_switchers_cover_methods_categories_and_criteria(
    filled: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = filled
    at = _page(_app(path, monkeypatch), "Leaderboard")
    assert _select(at, "Method").options == [
        "Bradley-Terry",
        "Elo",
        "Plackett-Luce",
        "Style-controlled BT",
    ]
    for method in ("elo", "pl", "bt-style"):
        _select(at, "Method").set_value(method).run()
        assert not at.exception
        assert len(at.dataframe[0].value) == 4, method
    _select(at, "Method").set_value("bt").run()
    _select(at, "Prompt category").set_value("facts").run()
    assert not at.exception
    with open_store(path, read_only=True) as store:
        facts = views.leaderboard(store, run_id=ids["scripted"], method="bt", category="facts")
    assert at.dataframe[0].value.equals(views.display_board(facts))
    usable = usable_comparisons(path, ids["scripted"], category="facts")
    assert facts.computed and at.dataframe[0].value["Comparisons"].sum() == 2 * usable
    # A grade run offers the rubric's criteria instead.
    _select(at, "Run").set_value(ids["grade"]).run()
    assert _select(at, "Method").options == ["Mean rubric score"]
    assert _select(at, "Rubric criterion").options == ["helpfulness", "overall"]
    assert list(at.dataframe[0].value.columns) == ["Rank", "Model", "Score", "95 % CI", "Responses"]
    assert {m.label: m.value for m in at.metric}["Top model"] == "atlas"


def test_head_to_head_page_draws_observed_and_predicted_matrices(
    filled: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = filled
    at = _page(_app(path, monkeypatch), "Head to head")
    observed, predicted = _plotly_specs(at)
    with open_store(path, read_only=True) as store:
        result = views.head_to_head(store, run_id=ids["scripted"])
    assert result is not None
    order = list(result.board.frame["model"])
    expected = result.predicted.reindex(index=order, columns=order).to_numpy()
    got = _array(predicted["data"][0]["z"])
    np.testing.assert_allclose(got, expected)
    assert got[0, 3] > 0.9  # atlas against the worst model
    assert observed["data"][0]["x"] == [views.inert_label(m) for m in order]
    assert at.dataframe[0].value.to_numpy().sum() == 2 * usable_comparisons(path, ids["scripted"])


def test_judge_quality_page_reports_flips_failures_usage_and_no_human_labels(
    filled: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = filled
    at = _page(_app(path, monkeypatch), "Judge quality")
    with open_store(path, read_only=True) as store:
        quality = views.judge_quality(store, run_id=ids["scripted"])
    values = quality.metrics.set_index("metric")["value"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Position flip rate"] == f"{values['position flip rate']:.1%}"
    assert metrics["Parse failures"] == f"{values['parse-failure rate']:.1%}"
    assert metrics["Longer answer wins"] == f"{values['length bias']:.1%}"
    assert any("No human labels" in text for text in _texts(at, ("info",)))
    # Found by its columns: a run with a stored trust report shows that table first.
    (usage,) = [d.value for d in at.dataframe if "calls" in d.value.columns]
    assert usage["judge"].tolist() == ["fake/scripted"] and usage["calls"].tolist() == [96]


def test_drill_down_page_shows_answers_verdicts_and_replies_as_text(
    filled: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = filled
    at = _page(_app(path, monkeypatch), "Drill-down")
    _select(at, "Prompt").set_value("c2").run()
    assert not at.exception
    codes = _texts(at, ("code",))
    assert codes[0] == XSS_PROMPT
    assert f"{XSS_OUTPUT} (c2)" in codes
    assert any("<script>window.__pwned = 2</script>" in c for c in codes)  # the judge reply
    outcomes = at.dataframe[0].value
    assert len(outcomes) == 6 and set(outcomes["model_a"]) | set(outcomes["model_b"]) == {
        "atlas",
        "beacon",
        "comet",
        MALLORY,
    }
    assert {m.label for m in at.metric} == {"P(first)", "P(second)", "P(tie)"}


def test_runs_page_lists_runs_and_compares_two(
    filled: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = filled
    at = _page(_app(path, monkeypatch), "Runs")
    runs = at.dataframe[0].value
    assert runs["run_id"].tolist() == [ids["scripted"], ids["hash"], ids["grade"]]
    assert at.json[0].value and json.loads(at.json[0].value)["judge"] == "fake/scripted"
    changes = at.dataframe[1].value
    assert set(changes["model"]) == {"atlas", "beacon", "comet", MALLORY}
    atlas = changes.set_index("model").loc["atlas"]
    assert atlas["rank_after"] == 1
    assert len(at.dataframe) == 4  # runs, changes, and the two boards side by side


# -- hostile text stays inert ------------------------------------------------------------


_RAW_TAG = re.compile(r"(?<!\\)<")


def test_outputs_names_and_judge_text_with_markup_render_inert(
    filled: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Payloads reach the page only as plain text: code blocks, text, dataframes, escaped
    chart labels and selectbox options; no markdown element carries a raw tag or a
    javascript: link, and none allows HTML."""
    path, _ = filled
    at = _app(path, monkeypatch)
    seen_payload = False
    for title in PAGES:
        _page(at, title)
        if title == "Drill-down":
            for prompt in ("c2", "f1"):
                _select(at, "Prompt").set_value(prompt).run()
                for pair in _select(at, "Pair").options:
                    _select(at, "Pair").set_value(pair).run()
                    _check_inert(at)
                    seen_payload |= any("<script>" in c for c in _texts(at, ("code",)))
        _check_inert(at)
    assert seen_payload  # the hostile text was shown (as text), not dropped


def _check_inert(at: AppTest) -> None:
    assert not at.exception
    rendered = _texts(at, MARKDOWN_ELEMENTS + ALERTS)
    rendered += [str(m.label) for m in at.metric]
    rendered += [str(w.label) for w in at.selectbox]
    for text in rendered:
        assert not _RAW_TAG.search(text), text
        assert "javascript:" not in text, text
    assert all(not el.proto.allow_html for el in at.markdown)
    for spec in _plotly_specs(at):
        for trace in spec["data"]:
            for axis in ("x", "y"):
                labels = [str(v) for v in trace.get(axis) or [] if isinstance(v, str)]
                assert not any("<" in v for v in labels), labels


# -- stores that cannot be shown ----------------------------------------------------------


def test_missing_store_gets_a_helpful_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(tmp_path / "nothing.duckdb", monkeypatch)
    assert not at.exception
    assert [t.value for t in at.title] == ["No store yet"]
    assert "no judgekit store" in at.info[0].value
    assert any("judgekit compare" in c for c in _texts(at, ("code",)))


def test_empty_store_gets_a_helpful_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    at = _app(path, monkeypatch)
    assert not at.exception
    assert [t.value for t in at.title] == ["This store is empty"]
    runless = tmp_path / "runless.duckdb"
    open_store(runless).close()
    at = _app(runless, monkeypatch)
    assert not at.exception
    assert [t.value for t in at.title] == ["No runs yet"]


def test_newer_schema_store_gets_a_helpful_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "newer.duckdb"
    open_store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO _judgekit_migrations VALUES ('m999_from_the_future', now())")
    con.close()
    at = _app(path, monkeypatch)
    assert not at.exception
    assert [t.value for t in at.title] == ["This store needs a newer judgekit"]
    assert "upgrade judgekit" in at.info[0].value


# -- run in progress ------------------------------------------------------------------------


def test_a_running_compare_shows_a_banner_and_still_shows_the_data(
    filled: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "running.duckdb"
    shutil.copy(filled[0], path)
    with open_store(path) as writer, writer.writer_lock():
        at = _app(path, monkeypatch)
        assert not at.exception
        assert any("writing to this store right now" in t for t in _texts(at, ("info",)))
        assert [t.value for t in at.title] == ["Leaderboard"]
        assert {m.label: m.value for m in at.metric}["Top model"] == "atlas"
    at.run()  # the run finished: the banner goes
    assert not any("writing to this store" in t for t in _texts(at, ("info",)))


@pytest.fixture
def write_connection_in_another_process(
    filled: tuple[Path, dict[str, str]], tmp_path: Path
) -> Iterator[Path]:
    """A copy of the store held open for writing by another process, as DuckDB allows one
    writing process per file."""
    path = tmp_path / "busy.duckdb"
    shutil.copy(filled[0], path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "con.execute('CREATE TABLE IF NOT EXISTS hold (x INTEGER)')\n"
            "print('holding', flush=True)\n"
            "time.sleep(300)\n",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield path
    finally:
        holder.kill()
        holder.wait()


def test_a_store_locked_by_another_process_shows_run_in_progress(
    write_connection_in_another_process: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = _app(write_connection_in_another_process, monkeypatch)
    assert not at.exception
    assert [t.value for t in at.title] == ["Run in progress"]
    assert "writing to this store right now" in at.warning[0].value
    assert [b.label for b in at.button] == ["Refresh now"]


GATED_COMPARE = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import judgekit
from judgekit.judges.fakes import ScriptedJudge
from tests.test_dashboard_queries import arena_frame, pairwise_script

gate, release = Path(sys.argv[3]), Path(sys.argv[4])
calls = 0

def judge(request):
    # Small batches with a pause write the store batch after batch; halfway through, the
    # run waits for the test, so the test can look at it mid-run on any machine speed.
    global calls
    calls += 1
    if calls < 48:
        time.sleep(0.03)
    elif calls == 48:
        gate.touch()
        deadline = time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return pairwise_script(request)

frame = arena_frame()
frame["output"] = frame["output"] + " (second attempt)"  # new inputs: a new run
judgekit.compare(frame, judge=ScriptedJudge(judge, batch_size=2), db=sys.argv[1], bootstrap=50)
"""


def test_dashboard_reads_while_a_real_compare_writes(
    filled: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compare run in another process writes batch after batch; every page load in the
    meantime shows the run-in-progress state and never a lock error or traceback."""
    path = tmp_path / "live.duckdb"
    shutil.copy(filled[0], path)
    gate, release = tmp_path / "gate", tmp_path / "release"
    root = Path(__file__).resolve().parent.parent
    argv = [sys.executable, "-c", GATED_COMPARE, str(path), str(root), str(gate), str(release)]
    run = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 90
        while not views.store_status(path).writing:
            assert run.poll() is None and time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        loads = 0
        while loads == 0 or not gate.exists():  # loads overlap the batches being written
            assert run.poll() is None and time.monotonic() < deadline
            at = _app(path, monkeypatch)
            assert not at.exception, [e.value for e in at.exception]
            assert [t.value for t in at.title] == ["Leaderboard"]
            texts = _texts(at, ALERTS)
            assert any("writing to this store right now" in t for t in texts), texts
            assert any("still judging" in t for t in texts), texts
            loads += 1
    finally:
        release.touch()
        assert run.wait(timeout=120) == 0
    at = _app(path, monkeypatch)  # finished: the new run is ranked and the banner is gone
    assert not at.exception
    assert not any("writing to this store" in t for t in _texts(at, ALERTS))
    assert {m.label: m.value for m in at.metric}["Top model"] == "atlas"


# -- the command ----------------------------------------------------------------------------


def test_dashboard_command_becomes_streamlit_serving_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda exe, argv: calls.append([exe, *argv]))
    db = tmp_path / "x.duckdb"
    result = CliRunner().invoke(
        dashboard_command.dashboard, ["--db", str(db), "--port", "8642", "--host", "127.0.0.1"]
    )
    assert result.exit_code == 0, result.output
    ((exe, *argv),) = calls
    assert exe == sys.executable == argv[0]
    assert argv[1:4] == ["-m", "streamlit", "run"]
    assert Path(argv[4]) == APP and Path(argv[4]).is_file()
    options = dict(zip(argv[5:-3:2], argv[6:-3:2], strict=True))
    assert options["--server.address"] == "127.0.0.1" and options["--server.port"] == "8642"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
    assert argv[-3:] == ["--", "--db", str(db.resolve())]


def test_dashboard_app_is_found_in_a_wheel_layout_or_reported_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "judgekit" / "commands" / "dashboard.py"
    monkeypatch.setattr(dashboard_command, "__file__", str(module))
    with pytest.raises(click.ClickException, match="cannot find the dashboard app"):
        dashboard_command.find_app()
    shipped = tmp_path / "judgekit" / "_data" / "dashboards" / "app.py"
    shipped.parent.mkdir(parents=True)
    shipped.write_text("")
    assert dashboard_command.find_app() == shipped


def test_dashboard_command_without_streamlit_prints_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "streamlit" else real(name, *a),
    )
    result = CliRunner().invoke(dashboard_command.dashboard, [])
    assert result.exit_code == 1
    assert "pip install 'judgekit[dashboard]'" in result.output
