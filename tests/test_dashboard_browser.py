"""The dashboard in a real browser: Debian's Chromium driven by Playwright's Python package.

Opt-in (``pytest --runbrowser``); CI installs Chromium first with ``tests/browser/install.sh``.
The test starts ``judgekit dashboard`` on 127.0.0.1 over a store filled by scripted-judge
runs, loads every page, checks what is visible (the top model's name, a CI value), checks
that no script, image handler or javascript: link from model or judge text ever became live,
and saves a PNG screenshot of each page under ``tests/screenshots/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from judgekit import views
from judgekit.store.db import open_store
from tests.test_dashboard_names import BOLD, LINK, PAGES, markdown_name_store
from tests.test_dashboard_queries import MALLORY, build_store

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("JUDGEKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
START_TIMEOUT_S = 90
PAGE_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1440, "height": 1000}
# Set by the hostile outputs, names and judge replies if any of their markup ever ran.
TRAPS = ("__pwned", "__img", "__clicked")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the dashboard exited early with code {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as reply:
                if reply.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the dashboard did not answer on {url} within {START_TIMEOUT_S} s")


@contextmanager
def _serve(db: Path, root: Path) -> Iterator[str]:
    """``judgekit dashboard`` serving ``db`` on 127.0.0.1; yields its URL."""
    port = _free_port()
    log = (root / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from judgekit.commands.dashboard import dashboard; dashboard()",
            "--db",
            str(db),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """``judgekit dashboard`` serving a filled store on 127.0.0.1."""
    root = tmp_path_factory.mktemp("browser")
    db = root / "store.duckdb"
    ids = build_store(db)
    with _serve(db, root) as url:
        yield url, db, ids


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A page in headless system Chromium with a fresh profile."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}; run tests/browser/install.sh first")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            yield page
        finally:
            context.close()


def _settle(page: Any) -> None:
    """Wait until Streamlit has finished running the script and drawing the page."""
    page.wait_for_load_state("domcontentloaded")
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stStatusWidget"] '
        '[data-testid="stStatusWidgetRunningIcon"]\')'
    )
    page.wait_for_timeout(1500)  # charts and data grids draw after the script ends


def _open(page: Any, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading).first.wait_for()
    _settle(page)


def _wait_count(page: Any, selector: str, count: int) -> None:
    """Wait until ``count`` elements match (charts and grids load their code lazily)."""
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length >= n", arg=[selector, count]
    )
    assert page.locator(selector).count() == count


def _assert_inert(page: Any) -> None:
    """No trap fired, no javascript: link, no image or script from the data in the DOM."""
    fired = page.evaluate(f"() => {list(TRAPS)}.filter(name => window[name] !== undefined)")
    assert fired == [], f"markup from the data ran: {fired}"
    assert page.locator('a[href^="javascript:" i]').count() == 0
    assert page.locator('img[src="x"], img[src="y"], img[src="z"]').count() == 0
    scripts = page.evaluate("() => [...document.scripts].map(s => s.textContent).join('\\n')")
    assert "__pwned" not in scripts


def _shoot(page: Any, name: str) -> None:
    """A PNG of the whole page: Streamlit scrolls inside its main pane, not the document, so
    the window is first made as tall as the content."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height, 900), 6000)})
    _settle(page)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(VIEWPORT)


def test_every_page_in_chromium(
    served: tuple[str, Path, dict[str, str]], browser_page: Any
) -> None:
    url, db, ids = served
    page = browser_page
    run = ids["scripted"]
    with open_store(db, read_only=True) as store:
        board = views.leaderboard(store, run_id=run, method="bt")
    top = board.frame.iloc[0]
    ci = views.format_ci(top["ci_low"], top["ci_high"])

    _open(page, f"{url}/?run={run}", "Leaderboard")
    metrics = page.locator('[data-testid="stMetric"]')
    assert "atlas" in metrics.nth(0).inner_text()
    assert ci in metrics.nth(2).inner_text()
    _wait_count(page, ".js-plotly-plot", 1)
    # Model names reach the chart as text, the hostile one included.
    assert "atlas" in page.locator(".js-plotly-plot").inner_text()
    _assert_inert(page)
    _shoot(page, "leaderboard")

    _open(page, f"{url}/head_to_head?run={run}", "Head to head")
    _wait_count(page, ".js-plotly-plot", 2)
    chart_text = page.locator(".js-plotly-plot").first.inner_text()
    assert "atlas" in chart_text and "mallory<img src=z" in chart_text  # shown, as text
    _assert_inert(page)
    _shoot(page, "head_to_head")

    _open(page, f"{url}/judge_quality?run={run}", "Judge quality")
    assert "Position flip rate" in page.locator('[data-testid="stMetric"]').first.inner_text()
    assert page.get_by_text("No human labels", exact=False).count() == 1
    _assert_inert(page)
    _shoot(page, "judge_quality")

    _open(page, f"{url}/drill_down?run={run}&prompt=c2", "Drill-down")
    code = page.locator('[data-testid="stCode"]')
    shown = "\n".join(code.all_inner_texts())
    assert "<script>window.__pwned = 1</script>" in shown  # the answer, as text
    assert "[click me](javascript:window.__clicked=1)" in shown
    assert "window.__pwned = 2" in shown  # the judge's reply, as text
    captions = page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    assert any(MALLORY in caption for caption in captions)  # the hostile name, as text
    _assert_inert(page)
    _shoot(page, "drill_down")

    _open(page, f"{url}/runs?run={run}", "Runs")
    page.get_by_role("heading", name="Compare two runs").wait_for()
    _wait_count(page, '[data-testid="stDataFrame"]', 4)
    _assert_inert(page)
    _shoot(page, "runs")


def test_run_in_progress_banner_in_chromium(
    served: tuple[str, Path, dict[str, str]], browser_page: Any
) -> None:
    url, db, ids = served
    page = browser_page
    with open_store(db) as writer, writer.writer_lock():
        _open(page, f"{url}/?run={ids['scripted']}", "Leaderboard")
        banner = page.get_by_text("A judgekit run is writing to this store right now")
        assert banner.count() == 1 and banner.is_visible()
        assert "atlas" in page.locator('[data-testid="stMetric"]').first.inner_text()
        _assert_inert(page)
        _shoot(page, "run_in_progress")
    # The page notices that the run has finished and drops the banner by itself.
    banner.wait_for(state="detached", timeout=30_000)


@pytest.mark.parametrize("name", [BOLD, LINK], ids=["bold", "link"])
def test_markdown_model_names_show_as_typed_in_chromium(
    name: str, tmp_path: Path, browser_page: Any
) -> None:
    """A top model named ``**x**`` or ``[x](javascript:...)`` is shown as those characters on
    every page: no bold element, no link, nothing that runs."""
    db = markdown_name_store(tmp_path / "store.duckdb", name)
    page = browser_page
    with _serve(db, tmp_path) as url:
        _open(page, url, "Leaderboard")
        top = page.locator('[data-testid="stMetric"]').first
        assert name in top.inner_text()
        assert top.locator("strong, b, a").count() == 0
        _assert_inert(page)
        for path in PAGES[1:]:
            slug = Path(path).stem
            page.goto(f"{url}/{slug}")
            _settle(page)
            assert page.locator('a:has-text("x")').count() == 0
            assert (
                page.locator('[data-testid="stMarkdownContainer"] strong:text-is("x")').count() == 0
            )
            _assert_inert(page)
