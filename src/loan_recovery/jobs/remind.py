"""Remind job: queue reminders for the loans that need one, then send what is due.

Targets are loans whose recommended action is ``reminder``: from a plan file (the
worklist ``plan`` writes; contact details come from the store's borrowers) or from the
store's latest scores (``plan --store``). Other callers add their own targets, with a
campaign name each, through ``extra_targets`` (the early-warning alerts job passes its
loans this way). A run then:

1. checks every template (a broken one stops the run before anything is queued or sent);
2. decides per target with the contact policy and queues it in the outbox, once per
   (loan, campaign, date): running twice on one day queues nothing new;
3. sends every queued message whose time has come, including ones deferred by earlier
   runs (:class:`~loan_recovery.notify.dispatch.Dispatcher`).

``dry_run`` does steps 1-2 without writing and reports what would be sent now, what
would wait and until when, and what would be held and why. A cron job that runs
``remind --from-store`` every hour or so therefore both queues the day's reminders and
sends the deferred ones once their borrowers' hours come.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table
from loan_recovery.notify.dispatch import DispatchCounts, Dispatcher
from loan_recovery.notify.policy import CHANNEL, DECISION, REASON, SCHEDULED_FOR, ZONE, Reason
from loan_recovery.notify.reminders import (
    ADDRESS,
    AMOUNT_DUE_VALUE,
    CAMPAIGN,
    DUE_DATE_VALUE,
    IDEMPOTENCY_KEY,
    LANGUAGE,
    QUEUED,
    campaign_date,
    decision_counts,
    prepare_reminders,
    queue_reminders,
    reminder_targets,
)
from loan_recovery.notify.senders import Sender, build_senders
from loan_recovery.notify.templates import TemplateRenderer, check_templates
from loan_recovery.store.audit import CLI_ACTOR, audit_record, write_audit_records
from loan_recovery.store.db import Store, open_store
from loan_recovery.store.errors import InvalidRequestError
from loan_recovery.store.models import DUE_STATUSES, OutboxMessage, Score, utc_now
from loan_recovery.store.outbox import existing_keys, idempotency_key

REMINDERS_QUEUE = "reminders.queue"
REMINDER_ACTION = "reminder"

#: Columns of :attr:`RemindOutcome.view` (no personal data: addresses are masked).
VIEW_COLUMNS: tuple[str, ...] = (
    schema.LOAN_ID,
    CAMPAIGN,
    DECISION,
    REASON,
    CHANNEL,
    LANGUAGE,
    "to",
    "local_time",
    SCHEDULED_FOR,
    AMOUNT_DUE_VALUE,
    DUE_DATE_VALUE,
    QUEUED,
)


@dataclass(frozen=True)
class RemindOutcome:
    """What a remind run decided, queued and sent."""

    view: pd.DataFrame
    decisions: dict[str, int]
    queued: int
    already_queued: int
    not_queued: int
    due_now: int
    dispatch: DispatchCounts | None
    dry_run: bool
    now: datetime

    def as_dict(self) -> dict[str, Any]:
        """Counts for ``--json`` and the audit log."""
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "targets": len(self.view),
            **self.decisions,
            "queued": self.queued,
            "already_queued": self.already_queued,
            "not_queued": self.not_queued,
            "due_now": self.due_now,
            **({} if self.dispatch is None else {"dispatch": self.dispatch.as_dict()}),
        }


# --- targets ------------------------------------------------------------------------------------
def targets_from_plan(path: Path, *, campaign: str) -> pd.DataFrame:
    """Loans whose recommended action is ``reminder`` in a plan file (csv/parquet)."""
    plan = read_raw_table(path)
    missing = [name for name in (schema.LOAN_ID, schema.RECOMMENDED_ACTION) if name not in plan]
    if missing:
        raise InvalidRequestError(
            f"plan file {path} lacks column(s) {', '.join(missing)}; give the worklist that "
            "`loan-recovery plan` writes."
        )
    action = plan[schema.RECOMMENDED_ACTION].astype(str).str.strip()
    return reminder_targets(plan.loc[action == REMINDER_ACTION, schema.LOAN_ID], campaign)


def targets_from_store(session: Session, *, campaign: str) -> pd.DataFrame:
    """Loans whose latest stored score recommends ``reminder``."""
    latest = sa.select(sa.func.max(Score.id).label("score_id")).group_by(Score.loan_id).subquery()
    statement = (
        sa.select(Score.loan_id)
        .join(latest, latest.c.score_id == Score.id)
        .where(Score.recommended_action == REMINDER_ACTION)
        .order_by(Score.loan_id)
    )
    return reminder_targets(list(session.scalars(statement)), campaign)


# --- display ------------------------------------------------------------------------------------
def mask_address(value: object, channel: str) -> str:
    """An address with most of it hidden: ``a***@gmail.com``, ``***21``."""
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.strip()
    if channel == "email" and "@" in text:
        user, _, domain = text.partition("@")
        return f"{user[:1]}***@{domain}"
    return f"***{text[-2:]}"


def _view(prepared: pd.DataFrame) -> pd.DataFrame:
    """The prepared reminders without personal data, with local send times."""
    local = [
        pd.Timestamp(moment).tz_convert(zone).strftime("%Y-%m-%d %H:%M %Z")
        if isinstance(zone, str) and not pd.isna(moment)
        else ""
        for moment, zone in zip(prepared[SCHEDULED_FOR], prepared[ZONE], strict=True)
    ]
    view = pd.DataFrame(
        {
            schema.LOAN_ID: prepared[schema.LOAN_ID].to_numpy(),
            CAMPAIGN: prepared[CAMPAIGN].to_numpy(),
            DECISION: prepared[DECISION].to_numpy(),
            REASON: prepared[REASON].to_numpy(),
            CHANNEL: prepared[CHANNEL].to_numpy(),
            LANGUAGE: prepared[LANGUAGE].to_numpy(),
            "to": [
                mask_address(address, channel)
                for address, channel in zip(prepared[ADDRESS], prepared[CHANNEL], strict=True)
            ],
            "local_time": local,
            SCHEDULED_FOR: prepared[SCHEDULED_FOR].to_numpy(),
            AMOUNT_DUE_VALUE: prepared[AMOUNT_DUE_VALUE].to_numpy(),
            DUE_DATE_VALUE: prepared[DUE_DATE_VALUE].to_numpy(),
            QUEUED: prepared[QUEUED].to_numpy() if QUEUED in prepared else False,
        }
    )
    return view[list(VIEW_COLUMNS)]


#: Headers of :func:`remind_rows`.
REMIND_HEADERS: tuple[str, ...] = (
    "loan",
    "campaign",
    "decision",
    "reason",
    "channel",
    "lang",
    "to",
    "when (local)",
    "amount due",
    "due date",
)


def remind_rows(view: pd.DataFrame) -> list[tuple[str, ...]]:
    """The view as display text, in :data:`REMIND_HEADERS` order (already masked)."""
    rows: list[tuple[str, ...]] = []
    for record in view.to_dict(orient="records"):
        amount = record[AMOUNT_DUE_VALUE]
        due = record[DUE_DATE_VALUE]
        rows.append(
            (
                str(record[schema.LOAN_ID]),
                str(record[CAMPAIGN]),
                str(record[DECISION]),
                str(record[REASON]),
                str(record[CHANNEL]),
                str(record[LANGUAGE]),
                str(record["to"]),
                str(record["local_time"]),
                "" if pd.isna(amount) else f"{amount:,.2f}",
                "" if pd.isna(due) else str(due),
            )
        )
    return rows


# --- the job ------------------------------------------------------------------------------------
def collect_targets(
    session: Session,
    *,
    settings: Settings,
    plan_path: Path | None,
    from_store: bool,
    extra_targets: pd.DataFrame | None,
) -> pd.DataFrame:
    """Every target of a run: plan or store reminders, plus ``extra_targets``."""
    if plan_path is not None and from_store:
        raise InvalidRequestError("give a plan file or --from-store, not both.")
    campaign = settings.notify.campaign
    parts = [reminder_targets([], campaign)]
    if plan_path is not None:
        parts.append(targets_from_plan(plan_path, campaign=campaign))
    if from_store:
        parts.append(targets_from_store(session, campaign=campaign))
    if extra_targets is not None and not extra_targets.empty:
        missing = [name for name in (schema.LOAN_ID, CAMPAIGN) if name not in extra_targets]
        if missing:
            raise InvalidRequestError(f"extra targets lack column(s) {', '.join(missing)}.")
        parts.append(extra_targets[[schema.LOAN_ID, CAMPAIGN]].astype(str))
    return pd.concat(parts, ignore_index=True)


def run_remind(
    *,
    settings: Settings,
    store: Store | None = None,
    plan_path: Path | None = None,
    from_store: bool = False,
    extra_targets: pd.DataFrame | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    senders: Mapping[str, Sender] | None = None,
    actor: str = CLI_ACTOR,
) -> RemindOutcome:
    """Queue reminders for the run's targets and send the due ones (see the module doc).

    ``extra_targets`` has columns ``Loan_ID`` and ``campaign`` (e.g. early-warning alerts
    as campaign ``early-warning``). ``now`` fixes the clock (a simulation, a replay);
    default: the real time. ``senders`` replaces the SMTP and SMS senders of the settings.
    """
    if now is not None and now.tzinfo is None:
        raise InvalidRequestError(f"now must carry a time zone (UTC: ...Z); got {now!r}.")
    moment = now.astimezone(UTC) if now is not None else utc_now()
    own = store is None
    active = store if store is not None else open_store(settings)
    own_senders: dict[str, Sender] = {}
    try:
        renderer = TemplateRenderer(settings.notify.template_dir)
        check_templates(renderer, channels=tuple(settings.notify.channels))
        if not dry_run and senders is None:  # a missing gateway fails before anything queues
            own_senders = build_senders(settings.notify)
        with active.transaction() as session:
            targets = collect_targets(
                session,
                settings=settings,
                plan_path=plan_path,
                from_store=from_store,
                extra_targets=extra_targets,
            )
            connection = session.connection()
            targets = targets.drop_duplicates(subset=[schema.LOAN_ID, CAMPAIGN])
            day = campaign_date(moment, settings)
            keys = [
                idempotency_key(campaign=str(campaign), campaign_date=day, loan_id=str(loan_id))
                for loan_id, campaign in zip(
                    targets[schema.LOAN_ID], targets[CAMPAIGN], strict=True
                )
            ]
            already = existing_keys(connection, keys)
            waiting = pd.Index(keys, dtype=object).isin(list(already))
            if not dry_run:  # queued by an earlier run: not decided again
                targets = targets[~waiting]
            prepared = prepare_reminders(
                connection, targets, settings=settings, now=moment, renderer=renderer
            )
            unknown = (prepared[REASON] == Reason.UNKNOWN_LOAN.value).to_numpy()
            if dry_run:  # "queued" means "would be queued": the key is new
                prepared[QUEUED] = ~prepared[IDEMPOTENCY_KEY].isin(already).to_numpy() & ~unknown
            else:
                prepared[QUEUED] = queue_reminders(connection, prepared, now=moment).to_numpy()
            due_now = _due_count(session, moment)
            queued = int(prepared[QUEUED].sum())
            not_queued = int(unknown.sum())
            outcome_counts = {
                "queued": queued,
                "already_queued": int(waiting.sum())
                if dry_run
                else int(waiting.sum()) + len(prepared) - queued - not_queued,
                "not_queued": not_queued,
            }
            if not dry_run:
                details = {"now": moment.isoformat(), **decision_counts(prepared), **outcome_counts}
                write_audit_records(
                    connection,
                    [
                        audit_record(
                            actor=actor, action=REMINDERS_QUEUE, entity="outbox", details=details
                        )
                    ],
                )
        dispatch: DispatchCounts | None = None
        if not dry_run:
            fixed = moment if now is not None else None
            dispatcher = Dispatcher(
                active,
                settings=settings,
                senders=senders if senders is not None else own_senders,
                clock=(lambda: fixed) if fixed is not None else utc_now,
                renderer=renderer,
            )
            dispatch = dispatcher.run()
        return RemindOutcome(
            view=_view(prepared),
            decisions=decision_counts(prepared),
            queued=outcome_counts["queued"],
            already_queued=outcome_counts["already_queued"],
            not_queued=outcome_counts["not_queued"],
            due_now=due_now,
            dispatch=dispatch,
            dry_run=dry_run,
            now=moment,
        )
    finally:
        for sender in own_senders.values():
            sender.close()
        if own:
            active.dispose()


def _due_count(session: Session, now: datetime) -> int:
    """Queued messages whose time has come (what a dispatch would try now)."""
    statement = sa.select(sa.func.count()).where(
        OutboxMessage.status.in_([status.value for status in DUE_STATUSES]),
        OutboxMessage.scheduled_for <= now,
    )
    return int(session.scalar(statement) or 0)
