"""Regional languages: kept, reminded in the nearest template, and the run says so."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from loan_recovery.jobs.remind import REQUESTED_LANGUAGE, VIEW_COLUMNS, RemindOutcome
from loan_recovery.notify.reminders import QUEUED
from loan_recovery.notify.templates import is_language_fallback, message_language


@pytest.mark.parametrize(
    ("tag", "template", "fallback"),
    [
        ("en", "en", False),
        ("hi", "hi", False),
        ("hi-IN", "hi", False),
        ("en-GB", "en", False),
        ("ta", "en", True),
        ("mr", "en", True),
        ("pt-BR", "en", True),
        (None, "en", False),
        ("", "en", False),
    ],
)
def test_template_language_and_fallback(tag: str | None, template: str, fallback: bool) -> None:
    assert message_language(tag) == template
    assert is_language_fallback(tag) is fallback


def _outcome(tags: list[str | None], queued: list[bool]) -> RemindOutcome:
    view = pd.DataFrame({column: [None] * len(tags) for column in VIEW_COLUMNS})
    view[REQUESTED_LANGUAGE] = tags
    view[QUEUED] = queued
    return RemindOutcome(
        view=view,
        decisions={},
        queued=sum(queued),
        already_queued=0,
        not_queued=0,
        due_now=0,
        dispatch=None,
        dry_run=False,
        now=datetime(2026, 1, 5, tzinfo=UTC),
    )


def test_run_counts_queued_reminders_that_fell_back_to_english() -> None:
    outcome = _outcome(["ta", "ta", "mr", "hi", "en", None, "ta"], [True] * 6 + [False])
    assert outcome.language_fallbacks() == {"ta": 2, "mr": 1}
    assert outcome.as_dict()["language_fallbacks"] == {"ta": 2, "mr": 1}
    note = outcome.language_note()
    assert note is not None
    assert note.startswith("3 reminder(s) written in en: no template for ta (2), mr (1)")


def test_no_note_when_every_language_has_a_template() -> None:
    outcome = _outcome(["hi-IN", "en", None], [True, True, True])
    assert outcome.language_fallbacks() == {}
    assert outcome.language_note() is None
