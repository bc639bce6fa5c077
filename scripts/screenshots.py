"""Regenerate the README's dashboard screenshots (docs/screenshots/*.png).

Builds the demo (portfolio, payment history, both champions) if missing, starts
`loan-recovery dashboard` on a free loopback port, opens every page in headless Debian
chromium (Playwright), waits until Streamlit has finished running the page, and saves a
PNG per page. On the Assess
page the example borrower is submitted first, so the shot shows a recommendation.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from loan_recovery.config import load_settings
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
from loan_recovery.jobs.demo import demo_is_built, run_demo

#: (URL path, file name) per page; the default page (Assess) lives at "/".
PAGES = (
    ("", "assess"),
    ("portfolio", "portfolio"),
    ("worklist", "worklist"),
    ("alerts", "alerts"),
    ("performance", "performance"),
    ("strategy_lab", "strategy_lab"),
)
#: Seconds to let plotly finish drawing after Streamlit reports the run done.
SETTLE_SECONDS = 2.0
#: Tall enough for a whole page: Streamlit scrolls an inner container, not the document.
VIEWPORT_HEIGHT = 2400


def _wait_until_idle(page: Page, timeout: float = BROWSER_TIMEOUT_MS / 1000) -> None:
    """Wait until Streamlit has been idle (no status widget, no spinner) for 1.5 s.

    A page run can start a moment after navigation, so one absent check is not enough.
    """
    page.wait_for_selector('[data-testid="stAppViewContainer"]')
    busy = '[data-testid="stStatusWidget"], [data-testid="stSpinner"]'
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        quiet = quiet + 1 if page.locator(busy).count() == 0 else 0
        page.wait_for_timeout(500)
    time.sleep(SETTLE_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    arguments = parser.parse_args(argv)
    chromium = chromium_executable()
    if chromium is None:
        print("chromium not found; install it (Debian: apt-get install chromium).", file=sys.stderr)
        return 2
    settings = load_settings()
    if not demo_is_built(settings):
        print("Building the demo portfolio, payment history and champions…")
        run_demo(settings=settings)
    arguments.out.mkdir(parents=True, exist_ok=True)
    command = dashboard_command(settings, port=free_port())
    with tempfile.TemporaryDirectory() as folder:
        process = start_in_background(command, log_path=Path(folder) / "dashboard.log")
        try:
            wait_until_healthy(command.url, process)
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright, chromium)
                page = browser.new_page(viewport={"width": 1440, "height": VIEWPORT_HEIGHT})
                page.set_default_timeout(BROWSER_TIMEOUT_MS)
                for path, name in PAGES:
                    page.goto(f"{command.url}/{path}")
                    _wait_until_idle(page)
                    if name == "assess":
                        submit_borrower_form(page)
                        _wait_until_idle(page)
                    target = arguments.out / f"{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(f"wrote {target}")
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
