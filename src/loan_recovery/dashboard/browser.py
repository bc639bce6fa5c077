"""Drive the dashboard in headless Chromium (browser test, README screenshots).

Playwright is a test/dev extra, so it is imported by the caller and passed in. Chromium
is Debian's (``/usr/bin/chromium``), started with the flags a closed network needs:
without the background-networking ones it keeps trying to reach Google's hosts.
"""

from __future__ import annotations

import shutil
from typing import Any

#: Milliseconds a browser step may wait (first loads train nothing but do plan).
BROWSER_TIMEOUT_MS = 90_000

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_executable() -> str | None:
    """Debian's chromium on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_chromium(playwright: Any, executable: str) -> Any:
    """A headless Chromium browser from a ``sync_playwright()`` context."""
    return playwright.chromium.launch(
        executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS)
    )


def submit_borrower_form(page: Any) -> str:
    """On the Assess page: press "Assess" and return the recommended action it shows.

    The form opens pre-filled with an example loan, so submitting it unchanged is a
    complete assessment; the heading "Recommended action: <action>" is what a user reads.
    """
    page.get_by_role("button", name="Assess").click()
    heading = page.get_by_text("Recommended action:", exact=False).first
    heading.wait_for(state="visible")
    text = str(heading.inner_text())
    return text.split(":", 1)[1].strip()
