"""Remind job: queue reminders for the loans that need one, then send what is due.

Targets are loans whose recommended action is ``reminder``: from a plan file (the
worklist ``plan`` writes; contact details come from the store's borrowers) or from the
store's latest scores (``plan --store``). Early-warning alerts whose suggested action is
``reminder`` join them under their own campaign (``notify.alert_campaign``): read from
the file ``alerts --out`` wrote (with a plan file), or scored from the store's
installments with the early-warning champion (with ``--from-store``; skipped, with a
note, when there is no model or no installment). A loan the plan already reminds is not
reminded again for an alert the same day. Other callers add their own targets, with a
campaign name each, through ``extra_targets``. Every target keeps its source (plan,
store, alert, extra), which the dry run shows. A run then:

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.data.io import read_raw_table
from loan_recovery.exceptions import ModelNotFoundError
from loan_recovery.jobs.alerts import NoStoredHistoryError, load_alert_model, run_alerts_store
from loan_recovery.money import MoneyFormat
from loan_recovery.notify.dispatch import DispatchCounts, Dispatcher
from loan_recovery.notify.policy import (
    CHANNEL,
    DECISION,
    REASON,
    SCHEDULED_FOR,
    ZONE,
    Reason,
    address_column,
)
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
from loan_recovery.notify.templates import (
    DEFAULT_LANGUAGE,
    TemplateRenderer,
    check_templates,
    is_language_fallback,
    reminder_amount,
)
from loan_recovery.store.audit import CLI_ACTOR, audit_record, write_audit_records
from loan_recovery.store.db import Store, store_session_scope
from loan_recovery.store.errors import InvalidRequestError
from loan_recovery.store.models import DUE_STATUSES, OutboxMessage, OutboxStatus, Score, utc_now
from loan_recovery.store.outbox import (
    OutboxRecord,
    contact_rows,
    existing_keys,
    idempotency_key,
    outbox_counts,
    outbox_messages,
    release_message,
)
from loan_recovery.store.queries import Page

REMINDERS_QUEUE = "reminders.queue"
REMINDER_ACTION = "reminder"
#: Where a target came from (``schema.TARGET_SOURCES``).
FROM_PLAN, FROM_STORE, FROM_ALERT, FROM_CALLER = schema.TARGET_SOURCES

#: Columns of :attr:`RemindOutcome.view` (no personal data: addresses are masked).
#: The borrower's own Preferred_Language tag, beside the template language used.
REQUESTED_LANGUAGE = "requested_language"
VIEW_COLUMNS: tuple[str, ...] = (
    schema.LOAN_ID,
    CAMPAIGN,
    schema.TARGET_SOURCE,
    DECISION,
    REASON,
    CHANNEL,
    LANGUAGE,
    REQUESTED_LANGUAGE,
    "to",
    "local_time",
    SCHEDULED_FOR,
    AMOUNT_DUE_VALUE,
    DUE_DATE_VALUE,
    QUEUED,
)


@dataclass(frozen=True)
class RemindOutcome:
    """What a remind run decided, queued and sent.

    ``view`` and ``decisions`` cover the targets decided in this run: a real run does not
    decide again a target whose key an earlier run queued (it counts in
    ``already_queued``), a dry run shows every target.
    """

    view: pd.DataFrame
    decisions: dict[str, int]
    queued: int
    already_queued: int
    not_queued: int
    due_now: int
    dispatch: DispatchCounts | None
    dry_run: bool
    now: datetime
    alerts: int = 0
    alert_targets: int = 0
    alerts_note: str | None = None

    @property
    def targets(self) -> int:
        """Every target of the run: queued now, queued by an earlier run, or unknown.

        Not ``len(view)``: a rerun (after a crash, or the next cron run the same day)
        decides only the new targets, and its counts must still add up.
        """
        return self.queued + self.already_queued + self.not_queued

    def language_note(self) -> str | None:
        """One line naming the languages that fell back to the default template."""
        fallbacks = self.language_fallbacks()
        if not fallbacks:
            return None
        listed = ", ".join(f"{tag} ({count:,})" for tag, count in fallbacks.items())
        total = sum(fallbacks.values())
        return (
            f"{total:,} reminder(s) written in {DEFAULT_LANGUAGE}: no template for {listed} "
            f"(templates exist for {', '.join(schema.LANGUAGES)})."
        )

    def language_fallbacks(self) -> dict[str, int]:
        """Requested languages with no template, and how many reminders queued in this run
        go out in the default language instead (the run says so)."""
        if not len(self.view):
            return {}
        queued = self.view[self.view[QUEUED].astype(bool)]
        counts = queued[REQUESTED_LANGUAGE].value_counts()  # each distinct tag asked once
        return {
            str(tag): int(count) for tag, count in counts.items() if is_language_fallback(str(tag))
        }

    def as_dict(self) -> dict[str, Any]:
        """Counts for ``--json`` and the audit log."""
        return {
            "now": self.now.isoformat(),
            "dry_run": self.dry_run,
            "targets": self.targets,
            **self.decisions,
            "queued": self.queued,
            "already_queued": self.already_queued,
            "not_queued": self.not_queued,
            "due_now": self.due_now,
            "alerts": self.alerts,
            "alert_targets": self.alert_targets,
            "alerts_note": self.alerts_note,
            "language_fallbacks": self.language_fallbacks(),
            **({} if self.dispatch is None else {"dispatch": self.dispatch.as_dict()}),
        }


@dataclass(frozen=True)
class AlertTargets:
    """Reminder targets taken from early-warning alerts, and what came of the alerts.

    ``alerts`` counts the alerts read or scored; ``note`` says why none could be used
    (no model, no installments, no pattern mapped to reminder), for the run's summary.
    """

    targets: pd.DataFrame
    alerts: int = 0
    note: str | None = None


# --- targets ------------------------------------------------------------------------------------
def sourced(targets: pd.DataFrame, source: str) -> pd.DataFrame:
    """``targets`` (Loan_ID, campaign) with their source (``schema.TARGET_SOURCES``)."""
    return targets.assign(**{schema.TARGET_SOURCE: source})


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
    targets = reminder_targets(plan.loc[action == REMINDER_ACTION, schema.LOAN_ID], campaign)
    return sourced(targets, FROM_PLAN)


def targets_from_store(session: Session, *, campaign: str) -> pd.DataFrame:
    """Loans whose latest stored score recommends ``reminder``."""
    latest = sa.select(sa.func.max(Score.id).label("score_id")).group_by(Score.loan_id).subquery()
    statement = (
        sa.select(Score.loan_id)
        .join(latest, latest.c.score_id == Score.id)
        .where(Score.recommended_action == REMINDER_ACTION)
        .order_by(Score.loan_id)
    )
    return sourced(reminder_targets(list(session.scalars(statement)), campaign), FROM_STORE)


def targets_from_alerts(alerts: pd.DataFrame, *, settings: Settings) -> pd.DataFrame:
    """Alerts whose suggested action is ``reminder``, as targets of ``notify.alert_campaign``.

    ``alerts`` has the columns :func:`~loan_recovery.jobs.alerts.alert_columns` lists
    (``alerts --out`` writes them); only Loan_ID and suggested_action are read.
    """
    needed = (schema.LOAN_ID, schema.SUGGESTED_ACTION)
    missing = [name for name in needed if name not in alerts]
    if missing:
        raise InvalidRequestError(
            f"the alerts lack column(s) {', '.join(missing)}; give the file that "
            "`loan-recovery alerts --out FILE` writes."
        )
    action = alerts[schema.SUGGESTED_ACTION].astype(str).str.strip()
    chosen = alerts.loc[(action == REMINDER_ACTION).to_numpy(), schema.LOAN_ID]
    return sourced(reminder_targets(chosen, settings.notify.alert_campaign), FROM_ALERT)


def _no_alert_targets(settings: Settings, alerts: int = 0, note: str | None = None) -> AlertTargets:
    empty = sourced(reminder_targets([], settings.notify.alert_campaign), FROM_ALERT)
    return AlertTargets(targets=empty, alerts=alerts, note=note)


def _reminds_on_alerts(settings: Settings) -> bool:
    """Whether any alert pattern's suggested action is ``reminder``."""
    return REMINDER_ACTION in settings.early_warning.alert_actions.values()


_NO_REMINDER_PATTERN = (
    "no alert pattern maps to reminder in early_warning.alert_actions, so alerts add no reminders"
)


def alert_targets_from_file(path: Path, *, settings: Settings) -> AlertTargets:
    """The reminder targets of an alerts file (``alerts --out``: csv or parquet)."""
    alerts = read_raw_table(path)
    targets = targets_from_alerts(alerts, settings=settings)
    note = None if _reminds_on_alerts(settings) else _NO_REMINDER_PATTERN
    return AlertTargets(targets=targets, alerts=len(alerts), note=note)


def alert_targets_from_store(
    store: Store, *, settings: Settings, models_dir: Path | None = None
) -> AlertTargets:
    """Score the store's alerts with the early-warning champion; their reminder targets.

    Never fails for want of inputs: without an early-warning model or installments in
    the store the run goes on without alert targets, and ``note`` says why (a cron job
    keeps sending the plan's reminders while early warning is being set up).
    """
    if not _reminds_on_alerts(settings):
        return _no_alert_targets(settings, note=_NO_REMINDER_PATTERN)
    try:
        bundle = load_alert_model(settings, models_dir=models_dir)
    except ModelNotFoundError as error:
        return _no_alert_targets(settings, note=f"early-warning alerts skipped: {error}")
    try:
        outcome = run_alerts_store(store, settings=settings, bundle=bundle)
    except NoStoredHistoryError as error:
        return _no_alert_targets(settings, note=f"early-warning alerts skipped: {error}")
    targets = targets_from_alerts(outcome.alerts, settings=settings)
    return AlertTargets(targets=targets, alerts=len(outcome.alerts))


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
            schema.TARGET_SOURCE: prepared[schema.TARGET_SOURCE].to_numpy()
            if schema.TARGET_SOURCE in prepared
            else FROM_CALLER,
            DECISION: prepared[DECISION].to_numpy(),
            REASON: prepared[REASON].to_numpy(),
            CHANNEL: prepared[CHANNEL].to_numpy(),
            LANGUAGE: prepared[LANGUAGE].to_numpy(),
            REQUESTED_LANGUAGE: prepared[schema.PREFERRED_LANGUAGE].to_numpy()
            if schema.PREFERRED_LANGUAGE in prepared
            else None,
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
    "source",
    "decision",
    "reason",
    "channel",
    "lang",
    "to",
    "when (local)",
    "amount due",
    "due date",
)


def remind_rows(view: pd.DataFrame, money: MoneyFormat | None = None) -> list[tuple[str, ...]]:
    """The view as display text, in :data:`REMIND_HEADERS` order (already masked); the
    amount due as the reminder states it (``money``: the display's format, en_IN)."""
    money = money or MoneyFormat()
    rows: list[tuple[str, ...]] = []
    for record in view.to_dict(orient="records"):
        amount = record[AMOUNT_DUE_VALUE]
        due = record[DUE_DATE_VALUE]
        rows.append(
            (
                str(record[schema.LOAN_ID]),
                str(record[CAMPAIGN]),
                str(record[schema.TARGET_SOURCE]),
                str(record[DECISION]),
                str(record[REASON]),
                str(record[CHANNEL]),
                str(record[LANGUAGE]),
                str(record["to"]),
                str(record["local_time"]),
                "" if pd.isna(amount) else reminder_amount(float(amount), money),
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
    alert_targets: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every target of a run: plan or store reminders, ``extra_targets``, then alerts.

    Columns Loan_ID, campaign and source. An alert target whose loan the plan (or the
    stored scores) already reminds is dropped: one reminder a day is enough for it.
    """
    if plan_path is not None and from_store:
        raise InvalidRequestError("give a plan file or --from-store, not both.")
    campaign = settings.notify.campaign
    parts = [sourced(reminder_targets([], campaign), FROM_PLAN)]
    if plan_path is not None:
        parts.append(targets_from_plan(plan_path, campaign=campaign))
    if from_store:
        parts.append(targets_from_store(session, campaign=campaign))
    reminded = pd.concat(parts, ignore_index=True)[schema.LOAN_ID]
    if extra_targets is not None and not extra_targets.empty:
        missing = [name for name in (schema.LOAN_ID, CAMPAIGN) if name not in extra_targets]
        if missing:
            raise InvalidRequestError(f"extra targets lack column(s) {', '.join(missing)}.")
        extra = extra_targets[[schema.LOAN_ID, CAMPAIGN]].astype(str)
        source = (
            extra_targets[schema.TARGET_SOURCE].astype(str).to_numpy()
            if schema.TARGET_SOURCE in extra_targets
            else FROM_CALLER
        )
        parts.append(extra.assign(**{schema.TARGET_SOURCE: source}))
    if alert_targets is not None and not alert_targets.empty:
        fresh = ~alert_targets[schema.LOAN_ID].astype(str).isin(reminded).to_numpy()
        parts.append(alert_targets.loc[fresh, [schema.LOAN_ID, CAMPAIGN, schema.TARGET_SOURCE]])
    return pd.concat(parts, ignore_index=True)


def _alert_targets(
    store: Store,
    *,
    settings: Settings,
    from_store: bool,
    alerts_path: Path | None,
    use_alerts: bool,
    models_dir: Path | None,
) -> AlertTargets:
    """The run's alert targets: from the alerts file, else scored from the store."""
    if alerts_path is not None:
        return alert_targets_from_file(alerts_path, settings=settings)
    if from_store and use_alerts:
        return alert_targets_from_store(store, settings=settings, models_dir=models_dir)
    return _no_alert_targets(settings)


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
    alerts_path: Path | None = None,
    use_alerts: bool = True,
    models_dir: Path | None = None,
) -> RemindOutcome:
    """Queue reminders for the run's targets and send the due ones (see the module doc).

    ``extra_targets`` has columns ``Loan_ID`` and ``campaign`` (and optionally
    ``source``). ``alerts_path`` is an alerts file (``alerts --out``) whose reminder
    alerts become targets; with ``from_store`` and ``use_alerts`` the alerts are scored
    from the store with the early-warning champion of ``models_dir`` (default: the
    settings' registry) instead. ``now`` fixes the clock (a simulation, a replay);
    default: the real time. ``senders`` replaces the SMTP and SMS senders of the settings.
    """
    if now is not None and now.tzinfo is None:
        raise InvalidRequestError(f"now must carry a time zone (UTC: ...Z); got {now!r}.")
    if alerts_path is not None and from_store:
        raise InvalidRequestError(
            "give an alerts file with a plan file (or alone); --from-store scores the alerts "
            "from the store itself."
        )
    if alerts_path is not None and not use_alerts:
        raise InvalidRequestError("an alerts file and --no-alerts contradict each other.")
    moment = now.astimezone(UTC) if now is not None else utc_now()
    own_senders: dict[str, Sender] = {}
    with store_session_scope(settings, store) as active:
        try:
            renderer = TemplateRenderer(settings.notify.template_dir)
            check_templates(renderer, channels=tuple(settings.notify.channels))
            if not dry_run and senders is None:  # a missing gateway fails before anything queues
                own_senders = build_senders(settings.notify)
            alerted = _alert_targets(
                active,
                settings=settings,
                from_store=from_store,
                alerts_path=alerts_path,
                use_alerts=use_alerts,
                models_dir=models_dir,
            )
            with active.transaction() as session:
                targets = collect_targets(
                    session,
                    settings=settings,
                    plan_path=plan_path,
                    from_store=from_store,
                    extra_targets=extra_targets,
                    alert_targets=alerted.targets,
                ).drop_duplicates(subset=[schema.LOAN_ID, CAMPAIGN])
                alert_targets = int((targets[schema.TARGET_SOURCE] == FROM_ALERT).sum())
                done = _queue(
                    session,
                    targets,
                    settings=settings,
                    now=moment,
                    renderer=renderer,
                    dry_run=dry_run,
                )
                if not dry_run:
                    details = {
                        "now": moment.isoformat(),
                        **decision_counts(done.prepared),
                        **done.counts,
                        "alerts": alerted.alerts,
                        "alert_targets": alert_targets,
                    }
                    record = audit_record(
                        actor=actor, action=REMINDERS_QUEUE, entity="outbox", details=details
                    )
                    write_audit_records(session.connection(), [record])
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
        finally:
            for sender in own_senders.values():
                sender.close()
    return RemindOutcome(
        view=_view(done.prepared),
        decisions=decision_counts(done.prepared),
        queued=done.counts["queued"],
        already_queued=done.counts["already_queued"],
        not_queued=done.counts["not_queued"],
        due_now=done.due_now,
        dispatch=dispatch,
        dry_run=dry_run,
        now=moment,
        alerts=alerted.alerts,
        alert_targets=alert_targets,
        alerts_note=alerted.note,
    )


@dataclass(frozen=True)
class _Queued:
    """The decided targets, what queueing them did, and the messages due now."""

    prepared: pd.DataFrame
    counts: dict[str, int]
    due_now: int


def _queue(
    session: Session,
    targets: pd.DataFrame,
    *,
    settings: Settings,
    now: datetime,
    renderer: TemplateRenderer,
    dry_run: bool,
) -> _Queued:
    """Decide every target with the contact policy and queue it, once per key.

    A key queued by an earlier run is not decided again. In a dry run nothing is written
    and "queued" means "would be queued" (the key is new).
    """
    connection = session.connection()
    day = campaign_date(now, settings)
    keys = [
        idempotency_key(campaign=str(campaign), campaign_date=day, loan_id=str(loan))
        for loan, campaign in zip(targets[schema.LOAN_ID], targets[CAMPAIGN], strict=True)
    ]
    already = existing_keys(connection, keys)
    waiting = pd.Index(keys, dtype=object).isin(list(already))
    if not dry_run:
        targets = targets[~waiting]
    prepared = prepare_reminders(connection, targets, settings=settings, now=now, renderer=renderer)
    unknown = (prepared[REASON] == Reason.UNKNOWN_LOAN.value).to_numpy()
    if dry_run:
        prepared[QUEUED] = ~prepared[IDEMPOTENCY_KEY].isin(already).to_numpy() & ~unknown
    else:
        prepared[QUEUED] = queue_reminders(connection, prepared, now=now).to_numpy()
    queued = int(prepared[QUEUED].sum())
    not_queued = int(unknown.sum())
    earlier = int(waiting.sum())
    counts = {
        "queued": queued,
        "already_queued": earlier if dry_run else earlier + len(prepared) - queued - not_queued,
        "not_queued": not_queued,
    }
    return _Queued(prepared=prepared, counts=counts, due_now=_due_count(session, now))


def _due_count(session: Session, now: datetime) -> int:
    """Queued messages whose time has come (what a dispatch would try now)."""
    statement = sa.select(sa.func.count()).where(
        OutboxMessage.status.in_([status.value for status in DUE_STATUSES]),
        OutboxMessage.scheduled_for <= now,
    )
    return int(session.scalar(statement) or 0)


# --- the outbox, for a person -------------------------------------------------------------------
@dataclass(frozen=True)
class OutboxListing:
    """A page of outbox messages, each one's masked address, the counts per status, and
    how many are held as unconfirmed (waiting for a person)."""

    page: Page[OutboxRecord]
    to: dict[int, str]
    counts: dict[str, int]
    unconfirmed: int


def run_outbox_list(
    *,
    settings: Settings,
    store: Store | None = None,
    status: str | None = None,
    reason: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> OutboxListing:
    """Outbox messages, newest first (filtered by status and reason), with masked addresses.

    The address is the borrower's current one on the message's channel, masked like the
    dry run's (``a***@example.com``, ``***21``): enough to find the message in a mail
    server's log, never the address itself.
    """
    with store_session_scope(settings, store) as active, active.transaction() as session:
        page = outbox_messages(session, status=status, reason=reason, limit=limit, offset=offset)
        loan_ids = sorted({item.loan_id for item in page.items})
        contacts = contact_rows(session.connection(), loan_ids).set_index(schema.LOAN_ID)
        to: dict[int, str] = {}
        for item in page.items:
            found = item.loan_id in contacts.index
            address = contacts.at[item.loan_id, address_column(item.channel)] if found else None
            to[item.id] = mask_address(address, item.channel)
        unconfirmed = outbox_messages(
            session, status=OutboxStatus.HELD.value, reason=Reason.UNCONFIRMED.value, limit=1
        ).total
        return OutboxListing(
            page=page, to=to, counts=outbox_counts(session), unconfirmed=unconfirmed
        )


def run_outbox_release(
    outbox_id: int,
    *,
    settings: Settings,
    resend: bool,
    store: Store | None = None,
    actor: str = CLI_ACTOR,
    now: datetime | None = None,
) -> OutboxRecord:
    """Settle a message that is not final (in doubt or stuck): due for sending again, or
    sent (audited).

    See :func:`~loan_recovery.store.outbox.release_message`. A message still claimed by a
    sender is refused until the claim lease (``notify.claim_lease_seconds``) has passed. A
    released message goes out on the next ``remind`` run, after the contact policy has
    been asked again.
    """
    moment = now.astimezone(UTC) if now is not None else utc_now()
    with store_session_scope(settings, store) as active, active.transaction() as session:
        return release_message(
            session,
            outbox_id,
            resend=resend,
            actor=actor,
            now=moment,
            unconfirmed_reason=Reason.UNCONFIRMED.value,
            guard=timedelta(seconds=settings.notify.claim_lease_seconds),
        )
