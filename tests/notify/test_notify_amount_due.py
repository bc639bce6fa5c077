"""What a reminder says is due: payments applied oldest installment first, so a short
payment that a later, larger one made good is never asked for again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.jobs.remind import run_remind
from loan_recovery.notify.reminders import AMOUNT_DUE_VALUE, DUE_DATE_VALUE, reminder_targets
from loan_recovery.store.db import Store
from loan_recovery.store.payments import unpaid_installments, upsert_payments

EMI = 4_000.0
WEDNESDAY_1100_IST = datetime(2026, 7, 1, 5, 30, tzinfo=UTC)


def _history(loan_id: str, paid: list[float]) -> pd.DataFrame:
    """Monthly installments of EMI due on the 11th from January 2026, paid as listed."""
    months = pd.date_range("2026-01-01", periods=len(paid), freq="MS") + pd.Timedelta(days=10)
    return pd.DataFrame(
        {
            schema.LOAN_ID: loan_id,
            schema.DUE_DATE: months,
            schema.AMOUNT_DUE: EMI,
            schema.AMOUNT_PAID: paid,
            schema.PAID_DATE: months.where(pd.Series(paid).to_numpy() > 0),
        }
    )


def test_a_shortfall_made_good_later_is_not_due_again(
    load_book: Callable[[list[dict[str, Any]]], pd.DataFrame],
    make_settings: Callable[..., Settings],
    notify_store: Store,
) -> None:
    """Gives a loan short by 1,500 in February and over by 1,500 in March, with June
    unpaid; and one short by 500 in May and June unpaid. Expects the first reminded of
    June's 4,000 only (due 11 June), the second of 500 + 4,000 from 11 May."""
    load_book([{}, {}])
    caught_up = _history("L0000", [EMI, EMI - 1_500, EMI + 1_500, EMI, EMI, 0.0])
    behind = _history("L0001", [EMI, EMI, EMI, EMI, EMI - 500, 0.0])
    with notify_store.engine.begin() as connection:
        upsert_payments(connection, pd.concat([caught_up, behind]), actor="test")
        unpaid = unpaid_installments(connection, ["L0000", "L0001"])
    assert unpaid.to_dict(orient="list") == {
        schema.LOAN_ID: ["L0000", "L0001", "L0001"],
        schema.DUE_DATE: [date(2026, 6, 11), date(2026, 5, 11), date(2026, 6, 11)],
        "unpaid_amount": [EMI, 500.0, EMI],
    }
    outcome = run_remind(
        settings=make_settings(),
        store=notify_store,
        extra_targets=reminder_targets(["L0000", "L0001"], "reminder"),
        now=WEDNESDAY_1100_IST,
        dry_run=True,
    )
    facts = outcome.view.set_index(schema.LOAN_ID)[[AMOUNT_DUE_VALUE, DUE_DATE_VALUE]]
    assert facts.loc["L0000"].tolist() == [EMI, date(2026, 6, 11)]
    assert facts.loc["L0001"].tolist() == [EMI + 500.0, date(2026, 5, 11)]
