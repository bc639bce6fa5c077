"""The fault suite's input files: simulated with a fixed seed, each with bad rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import write_table
from loan_recovery.simulation.payments import simulate_payment_history
from loan_recovery.simulation.portfolio import simulate_portfolio

DATA_SEED = 23
#: Loans of the import file, and how many of them the store holds before the import.
LOANS = 600
OLD_LOANS = 200
#: Loans whose installments are imported, and installments already in the store.
PAYMENT_LOANS = 200
OLD_PAYMENTS = 800
#: Loans planned by `plan --store`; the store holds the first PLAN_OLD with a bau plan.
PLAN_LOANS = 240
PLAN_OLD = 150
#: Borrowers reminded by email.
REMINDED = 24
#: Rows every input file carries that validation (or the store) must reject.
BAD_ROWS = 12


@dataclass(frozen=True)
class FaultFiles:
    """The input files of every scenario (CSV, in one folder)."""

    folder: Path
    loans: Path
    loans_old: Path
    payments: Path
    payments_old: Path
    plan_loans: Path
    plan_old: Path
    history: Path
    contacts: Path
    reminders: Path
    #: Loans of ``reminders`` recommended reminder that the store holds.
    reminded: tuple[str, ...]


def _spread(good: pd.DataFrame, bad: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """``good`` with the ``bad`` rows inserted at random places (a file's order)."""
    positions = np.sort(rng.choice(len(good) + len(bad), size=len(bad), replace=False))
    parts: list[pd.DataFrame] = []
    start = 0
    for offset, position in enumerate(positions):
        cut = position - offset
        parts += [good.iloc[start:cut], bad.iloc[[offset]]]
        start = cut
    parts.append(good.iloc[start:])
    return pd.concat(parts, ignore_index=True)


def _bad_loans(loans: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """BAD_ROWS loan rows with new ids and an impossible value each (age, amount, rate)."""
    bad = loans.head(BAD_ROWS).copy()
    bad[schema.LOAN_ID] = [f"{prefix}{number:04d}" for number in range(BAD_ROWS)]
    bad[schema.BORROWER_ID] = [f"{prefix}B{number:04d}" for number in range(BAD_ROWS)]
    kind = np.arange(BAD_ROWS) % 3
    bad[schema.AGE] = bad[schema.AGE].astype(object)
    bad.loc[kind == 0, schema.AGE] = 7
    bad.loc[kind == 1, schema.LOAN_AMOUNT] = -5.0
    bad.loc[kind == 2, schema.INTEREST_RATE] = 250.0
    return bad


def _older(loans: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """An earlier export of ``loans``: a quarter with other DPD, a tenth with other phones
    (so the later import updates loans and borrowers, with their audit rows)."""
    old = loans.copy()
    moved = rng.random(len(old)) < 0.25
    old.loc[moved, schema.DAYS_PAST_DUE] = old.loc[moved, schema.DAYS_PAST_DUE] + 3
    rephoned = rng.random(len(old)) < 0.10
    old.loc[rephoned, schema.PHONE] = "+919800000001"
    return old


def build_fault_files(folder: Path, settings: Settings) -> FaultFiles:
    """Every scenario's input, in ``folder``."""
    rng = np.random.default_rng(DATA_SEED)
    portfolio = simulate_portfolio(LOANS, DATA_SEED, settings=settings)
    loans = portfolio.loans
    write_table(_spread(loans, _bad_loans(loans, "LBAD"), rng), folder / "loans.csv")
    write_table(_older(loans.head(OLD_LOANS), rng), folder / "loans_old.csv")

    history = simulate_payment_history(portfolio, random_state=DATA_SEED, settings=settings)
    kept = loans[schema.LOAN_ID].head(PAYMENT_LOANS)
    installments = history.history[history.history[schema.LOAN_ID].isin(kept)]
    installments = installments.reset_index(drop=True)
    unknown = installments.head(BAD_ROWS).copy()
    unknown[schema.LOAN_ID] = [f"LGHOST{number:03d}" for number in range(BAD_ROWS)]
    invalid = installments.tail(BAD_ROWS).copy()
    invalid[schema.AMOUNT_DUE] = -1.0  # on due dates of their own: not duplicates
    invalid[schema.DUE_DATE] = [f"2099-{month:02d}-15" for month in range(1, BAD_ROWS + 1)]
    bad_installments = pd.concat([unknown, invalid], ignore_index=True)
    write_table(_spread(installments, bad_installments, rng), folder / "payments.csv")
    old_installments = installments.head(OLD_PAYMENTS).copy()
    repaid = rng.random(len(old_installments)) < 0.15
    old_installments.loc[repaid, schema.AMOUNT_PAID] = 0.0
    old_installments.loc[repaid, schema.PAID_DATE] = None
    write_table(old_installments, folder / "payments_old.csv")

    fresh = simulate_portfolio(PLAN_LOANS, DATA_SEED + 1, settings=settings).loans
    fresh = fresh.drop(columns=[schema.RECOVERY_STATUS, schema.AMOUNT_RECOVERED])
    write_table(_spread(fresh, _bad_loans(fresh, "PBAD"), rng), folder / "plan_loans.csv")
    write_table(_older(fresh.head(PLAN_OLD), rng), folder / "plan_old.csv")
    training = simulate_portfolio(1_000, DATA_SEED + 2, settings=settings).loans
    write_table(training, folder / "history.csv")

    book = loans.head(REMINDED + 4).copy()
    numbers = range(len(book))
    book[schema.BORROWER_ID] = [f"RB{number:04d}" for number in numbers]
    book[schema.LOAN_ID] = [f"RL{number:04d}" for number in numbers]
    book[schema.EMAIL] = [f"borrower{number:04d}@example.com" for number in numbers]
    book[schema.PREFERRED_LANGUAGE] = "en"
    book[schema.TIME_ZONE] = "Asia/Kolkata"
    book[schema.CONSENT_EMAIL] = "Yes"
    book[schema.CONSENT_SMS] = "No"
    book[schema.DO_NOT_CONTACT] = "No"
    write_table(book, folder / "contacts.csv")
    reminded = tuple(book[schema.LOAN_ID].head(REMINDED))
    actions = ["reminder"] * REMINDED + ["call"] * (len(book) - REMINDED)
    plan = pd.DataFrame({schema.LOAN_ID: book[schema.LOAN_ID], schema.RECOMMENDED_ACTION: actions})
    strangers = pd.DataFrame(
        {schema.LOAN_ID: ["RL-UNKNOWN-1", "RL-UNKNOWN-2"], schema.RECOMMENDED_ACTION: "reminder"}
    )
    write_table(pd.concat([plan, strangers], ignore_index=True), folder / "reminders.csv")
    return FaultFiles(
        folder=folder,
        loans=folder / "loans.csv",
        loans_old=folder / "loans_old.csv",
        payments=folder / "payments.csv",
        payments_old=folder / "payments_old.csv",
        plan_loans=folder / "plan_loans.csv",
        plan_old=folder / "plan_old.csv",
        history=folder / "history.csv",
        contacts=folder / "contacts.csv",
        reminders=folder / "reminders.csv",
        reminded=reminded,
    )
