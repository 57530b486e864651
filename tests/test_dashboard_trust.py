"""The trust report on the dashboard: the warning banner on the leaderboard and judge-quality
pages, the trust figures in the judge-quality panel, plain text for every warning, and the
store read behind them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from streamlit.testing.v1 import AppTest  # noqa: E402

from judgekit import views  # noqa: E402
from judgekit.store.db import open_store  # noqa: E402
from judgekit.store.trust_queries import load_trust  # noqa: E402
from tests.test_dashboard_queries import MALLORY, build_store  # noqa: E402

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
TIMEOUT_S = 90
# Warnings quote model names, which are untrusted text: markdown, HTML and a javascript link.
HOSTILE = f"The board cannot tell {MALLORY} from **atlas** [ok](javascript:alert(1)) apart."
WARNED = {
    "flip_rate": 0.93,
    "flip_rate_ci": [0.84, 0.97],
    "first_position_rate": 0.02,
    "p_first_position": 1.2e-9,
    "p_no_difference": 0.41,
    "n_separated_pairs": 0,
    "n_model_pairs": 6,
    "warnings": [
        "The verdict changed with the order in 93% of pairs: use a stronger judge.",
        HOSTILE,
    ],
}
LABELLED = {
    "flip_rate": 0.1,
    "flip_rate_ci": [0.05, 0.2],
    "first_position_rate": 0.52,
    "p_first_position": 0.61,
    "p_no_difference": 0.0004,
    "warnings": [],
    "accuracy": 0.8,
    "accuracy_ci": [0.7, 0.87],
    "kappa": 0.6,
    "kappa_ci": [0.45, 0.74],
    "p_chance": 0.0001,
    "always_longer_accuracy": 0.55,
    "always_first_accuracy": 0.5,
    "always_second_accuracy": 0.5,
}


def _store_report(path: Path, run_id: str, report: dict[str, Any]) -> None:
    """Write a report row as the trust_reports contract has it: (run_id, report JSON,
    created_at). The table is made here when this store's schema has none yet."""
    with open_store(path) as store, store.transaction() as con:
        con.execute(
            "CREATE TABLE IF NOT EXISTS trust_reports "
            "(run_id VARCHAR PRIMARY KEY, report JSON, created_at TIMESTAMP)"
        )
        con.execute("DELETE FROM trust_reports WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO trust_reports VALUES (?, ?, now())", [run_id, json.dumps(report)])


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("dash-trust") / "store.duckdb"
    ids = build_store(path)
    _store_report(path, ids["scripted"], WARNED)
    _store_report(path, ids["hash"], LABELLED)
    with open_store(path) as store, store.transaction() as con:
        con.execute("DELETE FROM trust_reports WHERE run_id = ?", [ids["grade"]])
    return path, ids


def _open(path: Path, run_id: str, page: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("JUDGEKIT_DB", str(path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    at.switch_page(page).run()
    run = next(s for s in at.selectbox if s.label == "Run")
    if run.value != run_id:
        run.set_value(run_id).run()
    assert not at.exception, [e.value for e in at.exception]
    assert next(s for s in at.selectbox if s.label == "Run").value == run_id
    return at


_RAW_TAG = re.compile(r"(?<!\\)<")


def _assert_plain(at: AppTest) -> None:
    for kind in ("warning", "info", "success", "caption", "markdown", "subheader", "title"):
        for element in getattr(at, kind):
            text = str(element.value)
            assert not _RAW_TAG.search(text), text
            assert "javascript:" not in text and "](" not in text, text
    assert all(not el.proto.allow_html for el in at.markdown)


# -- the store read and the view ------------------------------------------------------------


def test_load_trust_reads_the_report_and_none_without_one(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with open_store(path) as store:
        assert load_trust(store, "nope") is None  # whatever the schema, no row is None
    _store_report(path, "r1", WARNED)
    with open_store(path, read_only=True) as store:
        assert load_trust(store, "r1") == WARNED
        assert load_trust(store, "r2") is None
        with store.connect() as con:
            created = con.execute("SELECT created_at FROM trust_reports").fetchone()
    assert created is not None and created[0] is not None


def test_load_trust_on_a_store_without_the_table_is_none(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with open_store(path) as store, store.transaction() as con:
        con.execute("DROP TABLE IF EXISTS trust_reports")
    with open_store(path, read_only=True) as store:
        assert load_trust(store, "any") is None


def test_trust_view_formats_figures_and_keeps_warnings_as_text() -> None:
    view = views.trust_view({**WARNED, "warnings": ["two\nlines", HOSTILE]})
    assert view.warnings == ("two lines", HOSTILE) and not view.has_labels
    figures = view.figures.set_index("figure")
    assert list(view.figures.columns) == views.TRUST_COLUMNS
    assert figures.loc["Position flip rate", "value"] == "93.0%"
    assert figures.loc["Position flip rate", "ci"] == "84.0% – 97.0%"
    assert figures.loc["First-position rate", "value"] == "2.0%"
    assert "p = < 0.001 against 50 %" in figures.loc["First-position rate", "what"]
    assert figures.loc["Separation", "value"] == "p = 0.410"
    assert "0 of 6 model pairs" in figures.loc["Separation", "what"]
    assert len(figures) == 3  # no label rows without labels

    labelled = views.trust_view(LABELLED).figures.set_index("figure")
    assert labelled.loc["Accuracy against humans", "value"] == "80.0%"
    assert labelled.loc["Accuracy against humans", "ci"] == "70.0% – 87.0%"
    assert labelled.loc["Cohen's kappa", "ci"] == "0.450 – 0.740"
    assert labelled.loc["Baseline: always the longer answer", "value"] == "55.0%"
    missing = views.trust_view({"flip_rate": None, "warnings": []}).figures.set_index("figure")
    assert missing.loc["Position flip rate", ["value", "ci"]].tolist() == ["–", "–"]


def test_banner_markdown_escapes_every_warning() -> None:
    text = views.banner_markdown([HOSTILE])
    lead, item = text.split("\n\n")
    assert lead == f"**{views.BANNER_LEAD}**"
    assert item == "- " + views.markdown_escape(HOSTILE)
    assert "**atlas**" not in item and "\\*\\*atlas\\*\\*" in item
    assert not _RAW_TAG.search(item) and "javascript:" not in item


# -- the pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["pages/leaderboard.py", "pages/judge_quality.py"])
def test_a_run_with_warnings_gets_the_banner(
    page: str, trusted: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = trusted
    at = _open(path, ids["scripted"], page, monkeypatch)
    banners = [w.value for w in at.warning]
    assert banners == [views.banner_markdown(WARNED["warnings"])]
    _assert_plain(at)


@pytest.mark.parametrize("run", ["hash", "grade"])
@pytest.mark.parametrize("page", ["pages/leaderboard.py", "pages/judge_quality.py"])
def test_runs_without_warnings_get_no_banner(
    page: str, run: str, trusted: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = trusted
    at = _open(path, ids[run], page, monkeypatch)
    assert not any(views.BANNER_LEAD in str(w.value) for w in at.warning)


def test_judge_quality_panel_shows_the_trust_figures(
    trusted: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, ids = trusted
    at = _open(path, ids["scripted"], "pages/judge_quality.py", monkeypatch)
    assert "Can this judge be trusted?" in [s.value for s in at.subheader]
    with open_store(path, read_only=True) as store:
        expected = views.run_trust(store, run_id=ids["scripted"])
    assert expected is not None
    tables = [d.value for d in at.dataframe if list(d.value.columns) == views.TRUST_COLUMNS]
    assert len(tables) == 1 and tables[0].equals(expected.figures)
    assert any("human labels" in str(c.value) for c in at.caption)

    at = _open(path, ids["hash"], "pages/judge_quality.py", monkeypatch)
    (table,) = [d.value for d in at.dataframe if list(d.value.columns) == views.TRUST_COLUMNS]
    assert table.equals(views.trust_view(LABELLED).figures)
    assert "Accuracy against humans" in set(table["figure"])
    assert any("raised no warning" in str(s.value) for s in at.success)

    at = _open(path, ids["grade"], "pages/judge_quality.py", monkeypatch)
    assert any("No trust report" in str(i.value) for i in at.info)
    assert not [d for d in at.dataframe if list(d.value.columns) == views.TRUST_COLUMNS]
