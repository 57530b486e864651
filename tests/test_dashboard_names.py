"""Model names with markdown in them show as plain text on every dashboard page (AppTest).

The real-browser check is in ``test_dashboard_browser.py`` (opt-in, ``--runbrowser``); this
one runs in the default suite and reads what each page hands to Streamlit's markdown-rendering
elements.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit")
pytest.importorskip("plotly")

from streamlit.testing.v1 import AppTest  # noqa: E402

import judgekit  # noqa: E402
from judgekit import views  # noqa: E402
from judgekit.judges.fakes import ScriptedJudge  # noqa: E402
from judgekit.types import JudgeRequest, JudgeResponse  # noqa: E402

APP = Path(__file__).resolve().parent.parent / "dashboards" / "app.py"
PAGES = (
    "pages/leaderboard.py",
    "pages/head_to_head.py",
    "pages/judge_quality.py",
    "pages/drill_down.py",
    "pages/runs.py",
)
BOLD = "**x**"
LINK = "[x](javascript:window.__clicked=1)"
# Markdown that would render: emphasis, or a link (an unescaped "[...](" pair).
_LIVE_MARKDOWN = re.compile(r"(?<!\\)\*\*|(?<!\\)\[[^\]]*(?<!\\)\]\(")


def _prefers_longer(request: JudgeRequest) -> JudgeResponse:
    text = request.messages[0].content
    a = text.split("[Response A]")[1].split("[Response B]")[0]
    b = text.split("[Response B]")[1]
    letter = "A" if len(a) > len(b) else "B"
    return JudgeResponse(text=letter, choice_probs={letter: 0.9, "AB".replace(letter, ""): 0.1})


@pytest.fixture(scope="module", params=[LINK, BOLD], ids=["link", "bold"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose top model (the longest answers) has a markdown name."""
    name = request.param
    path = tmp_path_factory.mktemp("names") / "store.duckdb"
    rows = []
    for i in range(3):
        for model, answer in ((name, "A long and careful answer. " * 3), ("plain", "Short.")):
            rows.append({"prompt_id": f"p{i}", "prompt": f"Question {i}?", "model": model,
                         "output": answer})  # fmt: skip
    judge = ScriptedJudge(_prefers_longer, supports_logprobs=True)
    judgekit.compare([pd.DataFrame(rows)], judge=judge, db=path, bootstrap=20)
    path.with_suffix(".name").write_text(name, encoding="utf-8")
    return path


def test_a_markdown_model_name_shows_as_typed_on_every_page(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = store.with_suffix(".name").read_text(encoding="utf-8")
    monkeypatch.setenv("JUDGEKIT_DB", str(store))
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        if page.endswith("leaderboard.py"):
            top = {m.label: m.value for m in at.metric}["Top model"]
            # Escaped, so that Streamlit's markdown shows exactly the name.
            assert top == views.markdown_escape(name)
        rendered = [
            str(el.value)
            for kind in ("markdown", "caption", "title", "header", "subheader", "info")
            for el in getattr(at, kind)
        ]
        rendered += [str(m.value) for m in at.metric] + [str(m.label) for m in at.metric]
        for text in rendered:
            assert not _LIVE_MARKDOWN.search(text), (page, text)
