"""The dashboard in a real browser: start the server, submit the borrower form in Chromium.

Uses Debian's chromium (``.ci/run`` installs it) driven by Playwright with
``executable_path``; no browser download. Outside CI a machine without chromium skips;
with ``CI=true`` a missing browser is a failure.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loan_recovery.dashboard.browser import (
    BROWSER_TIMEOUT_MS,
    chromium_executable,
    launch_chromium,
    submit_borrower_form,
)
from loan_recovery.dashboard.launch import (
    dashboard_command,
    free_port,
    start_in_background,
    wait_until_healthy,
)
from loan_recovery.data import schema

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, or skip (fail under CI=true)."""
    path = chromium_executable()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run installs it with apt-get.")
        pytest.skip("chromium is not installed")
    return path


@pytest.fixture(scope="module")
def dashboard_url(dashboard_world: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `streamlit run` of the app on a free loopback port."""
    log = tmp_path_factory.mktemp("browser") / "dashboard.log"
    command = dashboard_command(
        dashboard_world.settings,
        models_dir=dashboard_world.models_dir,
        data_file=dashboard_world.portfolio,
        port=free_port(),
    )
    process = start_in_background(command, log_path=log)
    try:
        wait_until_healthy(command.url, process, timeout=120)
        yield command.url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except Exception:
            process.kill()
        if process.returncode not in (0, -15, None):
            print(log.read_text(errors="replace"))


def test_borrower_form_shows_a_recommended_action_in_chromium(
    chromium: str, dashboard_url: str, tmp_path: Path
) -> None:
    """Opens the app, submits the borrower form; expects an action name and a screenshot."""
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(BROWSER_TIMEOUT_MS)
            page.goto(dashboard_url)
            recommended = submit_borrower_form(page)
            assert recommended in schema.ACTION_NAMES
            shot = tmp_path / "assess.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert shutil.which(chromium) or Path(chromium).is_file()


#: Every x-axis tick label of every chart on the page, as the browser laid it out.
_TICK_BOXES_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot =>
    Array.from(plot.querySelectorAll('g.xtick text')).map(text => {
        const box = text.getBoundingClientRect();
        return {left: box.left, right: box.right, top: box.top, bottom: box.bottom,
                text: text.textContent};
    }).filter(box => box.right > box.left))
"""


def test_portfolio_chart_labels_do_not_overlap_in_chromium(
    chromium: str, dashboard_url: str, tmp_path: Path
) -> None:
    """Opens the Portfolio page; expects every chart's x-axis labels side by side, none
    overlapping another (segment names wrap), and keeps a screenshot."""
    with playwright_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(BROWSER_TIMEOUT_MS)
            page.goto(f"{dashboard_url.rstrip('/')}/portfolio")
            page.wait_for_selector("g.xtick text")
            page.wait_for_timeout(1_000)  # let every chart finish its layout
            charts = page.evaluate(_TICK_BOXES_JS)
            page.screenshot(path=str(tmp_path / "portfolio.png"), full_page=True)
        finally:
            browser.close()
    laid_out = [ticks for ticks in charts if len(ticks) > 1]
    assert laid_out, "no chart with x-axis labels on the Portfolio page"
    for ticks in laid_out:
        ordered = sorted(ticks, key=lambda box: box["left"])
        for before, after in itertools.pairwise(ordered):
            apart = before["right"] <= after["left"] + 0.5
            assert apart or before["bottom"] <= after["top"], (before["text"], after["text"])
