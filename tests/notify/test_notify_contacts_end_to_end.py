"""A thousand random contact records through import -> plan -> remind, as a lender runs them.

The loan file carries the records of :mod:`contact_records` (valid, invalid, non-ASCII,
empty, comma lists, very long; each borrower consents to its record's channel only) and
random languages. The real commands run in order on one SQLite store: `import --json`,
`plan --policy all-reminder --store` (every loan offered a reminder, so only the rules
stand between a record and a message) and `remind --from-store` twice, against a real
SMTP server that offers SMTPUTF8 and a real SMS gateway.

Expected: no command crashes; every invalid email or phone is reported by import as a
warning on its line (``invalid_email``/``invalid_phone``) and every malformed language as
``invalid_language``, and no loan is rejected; the plan keeps every loan and takes the
reminder away from each one without a usable address on a consented channel, saying so;
every loan the plan reminds is a valid record, and each gets its message exactly once;
the rerun sends nothing; regional languages go out in English and are counted; no
address appears in the output or the logs.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result
from contact_records import INVALID, VALID, random_languages, random_records
from notify_servers import SmsGateway, SmtpServer
from typer.testing import CliRunner

from loan_recovery.cli import app
from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table, write_table
from loan_recovery.data.validation import LINE, REASON, default_warnings_path
from loan_recovery.jobs.train import run_train
from loan_recovery.simulation.portfolio import SimulatedPortfolio, simulate_portfolio

RECORDS = 1_000
SEED = 14
FIRST = "2026-03-02T06:00:00Z"  # Monday 11:30 in Kolkata: within contact hours
RERUN = "2026-03-02T07:00:00Z"
MALFORMED_LANGUAGES = {"xx-!!", "english please"}
#: Languages without templates: their reminders go out in English, counted.
REGIONAL_LANGUAGES = {"ta", "mr", "pt-BR"}
NO_ADDRESS = "reminder removed: no usable phone or email on a consented channel"
#: Data lines start at 2: line 1 is the header.
FIRST_DATA_LINE = 2

runner = CliRunner()


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry with a small, quickly trained champion (what it plans is the rules' job)."""
    root = tmp_path_factory.mktemp("e2e-models")
    history = write_table(simulate_portfolio(2_000, 21).loans, root / "history.csv")
    settings = load_settings(
        risk={
            "cv_folds": 2,
            "scorecard": False,
            "small_data": {"rows_below": 0},
            "xgboost": {"n_estimators": 60},
        },
        strategy={"outcomes": {"n_estimators": 60}},
    )
    models = root / "models"
    run_train(history, settings=settings, models_dir=models, seed=3, cross_validate=False)
    return models


def _loan_file(portfolio: SimulatedPortfolio, folder: Path) -> tuple[Path, pd.DataFrame]:
    """The lender's export: simulated loans with the random records as their contacts."""
    records = random_records(RECORDS, SEED)
    loans = portfolio.loans.head(RECORDS).copy()
    loans[schema.BORROWER_ID] = list(records)
    loans[schema.LOAN_ID] = [f"L{number:04d}" for number in range(RECORDS)]
    channel = pd.Series([record.channel for record in records.values()], index=loans.index)
    address = pd.Series([record.address for record in records.values()], index=loans.index)
    loans[schema.EMAIL] = address.where(channel == "email")
    loans[schema.PHONE] = address.where(channel == "sms")
    loans[schema.CONSENT_EMAIL] = (channel == "email").map({True: "Yes", False: "No"})
    loans[schema.CONSENT_SMS] = (channel == "sms").map({True: "Yes", False: "No"})
    loans[schema.DO_NOT_CONTACT] = "No"
    loans[schema.TIME_ZONE] = "Asia/Kolkata"
    loans[schema.PREFERRED_LANGUAGE] = random_languages(RECORDS, SEED)
    expected = pd.DataFrame(
        {
            "channel": channel,
            "kind": [record.kind_after_import for record in records.values()],
            "language": loans[schema.PREFERRED_LANGUAGE],
            LINE: range(FIRST_DATA_LINE, FIRST_DATA_LINE + RECORDS),
        }
    ).set_axis(loans[schema.LOAN_ID].to_numpy())
    return write_table(loans, folder / "loans.csv"), expected


@pytest.fixture
def environment(
    tmp_path: Path,
    database_file: Path,
    champion: Path,
    smtputf8_server: SmtpServer,
    sms_gateway: SmsGateway,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """What an operator's environment says: the store, the registry, the servers."""
    monkeypatch.delenv("LOAN_RECOVERY_CONFIG", raising=False)
    return {
        "LOAN_RECOVERY_DATABASE_URL": f"sqlite:///{database_file}",
        "LOAN_RECOVERY_VAR_DIR": str(tmp_path / "var"),
        "LOAN_RECOVERY_MODELS_DIR": str(champion),
        "LOAN_RECOVERY_NOTIFY__SMTP__HOST": "127.0.0.1",
        "LOAN_RECOVERY_NOTIFY__SMTP__PORT": str(smtputf8_server.port),
        "LOAN_RECOVERY_NOTIFY__SMTP__STARTTLS": "false",
        "LOAN_RECOVERY_NOTIFY__SMTP__SENDER": "reminders@lender.example",
        "LOAN_RECOVERY_NOTIFY__SMS__URL": sms_gateway.url,
        "LOAN_RECOVERY_NOTIFY__SMS__BACKOFF_SECONDS": "0",
        "LOAN_RECOVERY_NOTIFY__LENDER_NAME": "Test Lender",
        "COLUMNS": "200",
    }


def _run(argv: list[str], environment: dict[str, str], outputs: list[str]) -> Result:
    result = runner.invoke(app, argv, env=environment)
    outputs.append(result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_a_thousand_random_contacts_from_import_to_remind(
    small_portfolio: SimulatedPortfolio,
    tmp_path: Path,
    environment: dict[str, str],
    smtputf8_server: SmtpServer,
    sms_gateway: SmsGateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Runs import, plan --store and remind twice on 1,000 random contact records;
    expects every invalid one warned about by line, none rejected or reminded, every
    reminded one valid and delivered once, nothing resent, no address in any output."""
    caplog.set_level(logging.INFO, logger="loan_recovery")
    loans_file, expected = _loan_file(small_portfolio, tmp_path)
    counts = Counter(zip(expected["channel"], expected["kind"], strict=True))
    assert min(counts.values()) >= 20  # every kind of record well represented
    outputs: list[str] = []

    imported = _run(["import", str(loans_file), "--json"], environment, outputs)
    assert imported.exit_code == 0, imported.output
    payload = json.loads(imported.output)
    invalid = expected[expected["kind"] == INVALID]
    malformed = expected[expected["language"].isin(MALFORMED_LANGUAGES)]
    assert (payload["inserted"], payload["rejected"]) == (RECORDS, 0)
    assert payload["warning_reasons"] == {
        "invalid_email": int((invalid["channel"] == "email").sum()),
        "invalid_phone": int((invalid["channel"] == "sms").sum()),
        "invalid_language": len(malformed),
    }
    warned = pd.read_csv(default_warnings_path(loans_file))
    lines_by_reason = warned.groupby(REASON)[LINE].agg(lambda lines: set(map(int, lines)))
    assert lines_by_reason["invalid_email"] | lines_by_reason["invalid_phone"] == set(invalid[LINE])
    assert lines_by_reason["invalid_language"] == set(malformed[LINE])

    plan_file = tmp_path / "plan.csv"
    planned_run = _run(
        ["plan", str(loans_file), "--out", str(plan_file), "--policy", "all-reminder", "--store"],
        environment,
        outputs,
    )
    assert planned_run.exit_code == 0, planned_run.output
    plan = pd.read_csv(plan_file, dtype=str).set_index(schema.LOAN_ID).reindex(expected.index)
    assert plan["recommended_action"].notna().all()  # every loan planned, none dropped
    reminded = set(plan.index[plan["recommended_action"] == "reminder"])
    valid = set(expected.index[expected["kind"] == VALID])
    assert reminded <= valid
    assert len(reminded) >= len(valid) // 2  # the NPA floor takes some; most remain
    unreachable = expected.index[expected["kind"] != VALID]
    assert plan.loc[unreachable, "guardrails"].str.contains(NO_ADDRESS, regex=False).all()
    assert not plan.loc[sorted(valid), "guardrails"].fillna("").str.contains(NO_ADDRESS).any()

    remind = ["remind", "--from-store", "--no-alerts", "--json"]
    first = _run([*remind, "--now", FIRST], environment, outputs)
    assert first.exit_code == 0, first.output
    second = _run([*remind, "--now", RERUN], environment, outputs)
    assert second.exit_code == 0, second.output
    sent, resent = json.loads(first.output), json.loads(second.output)
    assert (sent["queued"], sent["dispatch"]["sent"], sent["dispatch"]["failed"]) == (
        len(reminded),
        len(reminded),
        0,
    )
    assert (resent["queued"], resent["dispatch"]["sent"]) == (0, 0)
    delivered = Counter(
        key.rsplit(":", 1)[1]
        for key in [
            *smtputf8_server.recorder.keys(),
            *(request.payload["reference"] for request in sms_gateway.delivered()),
        ]
    )
    assert set(delivered) == reminded
    assert set(delivered.values()) == {1}
    # templates exist in en and hi; hi_IN is read as hi-IN, malformed tags become en
    languages = expected.loc[sorted(reminded), "language"]
    regional = languages[languages.isin(REGIONAL_LANGUAGES)]
    assert sent["language_fallbacks"] == regional.value_counts().to_dict()
    assert set(sent["language_fallbacks"]) == REGIONAL_LANGUAGES

    logged = "\n".join([*outputs, *(record.getMessage() for record in caplog.records)])
    addresses = {address.strip() for address in _addresses(loans_file)}
    addresses = {address for address in addresses if len(address) > 3}
    assert [address for address in addresses if address in logged] == []


def _addresses(loans_file: Path) -> list[str]:
    """Every email and phone the file holds, as written."""
    loans = read_raw_table(loans_file)
    return [value for column in (schema.EMAIL, schema.PHONE) for value in loans[column]]
