"""Benchmark the dashboard: how fast each page answers on the 20,000-loan demo portfolio.

Builds the demo portfolio, its payment history and both champions first when they are
missing (``run_demo``, not timed). Each page script runs in Streamlit's ``AppTest`` (the
server-side script run a browser waits for, without the network): a first load (models,
validation, plan, scores and evaluation caches filled), then ``--reruns`` reruns timed
one by one, plus the interactions the issues name (submitting the borrower form, a
worklist filter and re-plan, the alerts threshold and an alerts filter). Target: every
rerun and interaction after the first load < 1 s.

    .venv/bin/python benchmarks/bench_dashboard.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

import bench_support
from loan_recovery.config import load_settings
from loan_recovery.jobs.demo import DemoPaths, demo_is_built, run_demo

PAGES = Path(__file__).resolve().parents[1] / "src" / "loan_recovery" / "dashboard" / "pages"
PAGE_FILES = (
    "assess.py",
    "portfolio.py",
    "worklist.py",
    "alerts.py",
    "performance.py",
    "strategy_lab.py",
)
TARGET_SECONDS = 1.0
TIMEOUT = 600


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _check(app: AppTest, page: str) -> None:
    if app.exception:
        raise RuntimeError(f"{page} raised: {[item.value for item in app.exception]}")


def _interactions(page: str, app: AppTest) -> list[tuple[str, Callable[[], object]]]:
    """The user steps each page is for: submit the form, filter, re-plan, move the threshold."""
    steps: list[tuple[str, Callable[[], object]]] = []
    if page == "assess.py":
        buttons = [button for button in app.button if button.proto.is_form_submitter]
        if buttons:
            steps.append(("submit the borrower form", lambda: buttons[0].click().run()))
    if page == "worklist.py":
        if app.multiselect:
            widget = app.multiselect[0]
            options = list(widget.options)
            if options:
                steps.append((f"filter '{widget.label}'", lambda: widget.select(options[0]).run()))
        legal = [item for item in app.number_input if item.label == "legal slots"]
        replan = [button for button in app.button if button.label == "Re-plan"]
        if legal and replan:

            def cap_legal() -> object:
                legal[0].set_value(40)
                return replan[0].click().run()

            steps.append(("re-plan with 40 legal slots", cap_legal))
    if page == "alerts.py":
        sliders = [item for item in app.slider if item.key == "alerts_threshold"]
        if sliders:
            steps.append(("threshold 0.5", lambda: sliders[0].set_value(0.5).run()))
        actions = [item for item in app.multiselect if item.key == "alerts_actions"]
        choices = list(actions[0].options) if actions else []
        if choices:
            first = choices[0]
            steps.append((f"filter action '{first}'", lambda: actions[0].select(first).run()))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=5, help="timed reruns per page")
    arguments = parser.parse_args(argv)
    settings = load_settings()
    paths = DemoPaths.from_settings(settings)
    if not demo_is_built(settings):
        print("Building the demo portfolio, payment history and champions (not timed)…")
        run_demo(settings=settings)
    print(
        f"Portfolio {paths.portfolio} ({settings.demo.loans:,} loans);",
        bench_support.machine_load(),
    )
    rows = [("page", "first load", "rerun median", "rerun max", "interaction", "< 1 s")]
    worst = 0.0
    for page in PAGE_FILES:
        app = AppTest.from_file(str(PAGES / page), default_timeout=TIMEOUT)
        first = _timed(app.run)
        _check(app, page)
        reruns = [_timed(app.run) for _ in range(arguments.reruns)]
        _check(app, page)
        notes = []
        slowest = max(reruns)
        for label, action in _interactions(page, app):
            took = _timed(action)
            _check(app, page)
            notes.append(f"{label}: {took:.3f} s")
            slowest = max(slowest, took)
        interaction = "; ".join(notes) or "—"
        worst = max(worst, slowest)
        rows.append(
            (
                page,
                f"{first:.2f} s",
                f"{statistics.median(reruns):.3f} s",
                f"{max(reruns):.3f} s",
                interaction,
                "PASS" if slowest < TARGET_SECONDS else "MISS",
            )
        )
    bench_support.print_table(rows)
    verdict = "PASS" if worst < TARGET_SECONDS else "MISS"
    print(f"{verdict}: slowest answer after first load {worst:.3f} s (target < {TARGET_SECONDS} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
