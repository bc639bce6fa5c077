"""Reminder commands: queue and send reminders under the contact rules (``remind``) and
settle the outbox's messages (``outbox``)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from loan_recovery.cli.common import (
    EXIT_OK,
    EXIT_REJECTED_ROWS,
    JsonOption,
    ModelsOption,
    current_settings,
    stderr_console,
    stdout_console,
    user_errors,
)
from loan_recovery.cli.extras import require_database_driver
from loan_recovery.exceptions import ConfigError
from loan_recovery.jobs.remind import (
    REMIND_HEADERS,
    OutboxListing,
    RemindOutcome,
    remind_rows,
    run_outbox_list,
    run_outbox_release,
    run_remind,
)
from loan_recovery.notify.dispatch import DispatchCounts


def _parse_now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO time such as 2026-03-02T09:30:00+05:30; got {text!r}",
            param_hint="--now",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


#: Rows of the dry-run table shown on screen (the rest are counted).
_REMIND_ROWS = 200


def _remind_table(outcome: RemindOutcome) -> Table:
    """The dry run's decisions, one row per target; addresses arrive already masked."""
    title = "Reminders (dry run: nothing written or sent)" if outcome.dry_run else "Reminders"
    table = Table(title=f"{title} at {outcome.now:%Y-%m-%d %H:%M} UTC")
    for header in REMIND_HEADERS:
        table.add_column(header, justify="right" if header == "amount due" else "left")
    for row in remind_rows(outcome.view.head(_REMIND_ROWS)):
        table.add_row(*row)
    return table


@user_errors
def remind(
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="Worklist from `plan`: its loans recommended `reminder`."),
    ] = None,
    from_store: Annotated[
        bool,
        typer.Option("--from-store", help="Loans whose latest stored score recommends reminder."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show what would be sent, deferred or held; write and send nothing."
        ),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Act as at this ISO time (UTC unless it has an offset)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON only.")] = False,
    alerts_file: Annotated[
        Path | None,
        typer.Option(
            "--alerts",
            help="Alerts file from `alerts --out`: its alerts suggesting reminder are "
            "reminded too (with --plan, or alone).",
        ),
    ] = None,
    no_alerts: Annotated[
        bool,
        typer.Option("--no-alerts", help="With --from-store: do not score early-warning alerts."),
    ] = False,
    models: ModelsOption = None,
) -> None:
    """Queue reminders under the contact rules and send the due ones (email and SMS).

    Targets: loans recommended `reminder` (--plan FILE or --from-store) and early-warning
    alerts whose suggested action is reminder (campaign `early-warning`): with
    --from-store they are scored from the stored installments with the early-warning
    champion (skipped, with a note, when there is none); with --plan, give --alerts FILE.
    Each loan gets one reminder per campaign and day, however often this runs; messages
    outside the borrower's hours, on holidays or over the 7-in-7 cap wait for the next
    allowed slot and go out on a later run. Without targets it only sends what is
    already queued.

    One message that cannot be sent (a bad address, a template error, a refusal) never
    stops the run: it is marked failed with its reason and the rest go on. Exit code 0
    when nothing failed, 1 when some messages failed (counted by reason; see
    `outbox list --state failed`), 2 for unusable input or settings.
    """
    _check_targets(plan_file, from_store=from_store, alerts_file=alerts_file, no_alerts=no_alerts)
    moment = _parse_now(now)
    settings = current_settings()
    require_database_driver(settings)
    with stderr_console().status("Preparing reminders ..."):
        outcome = run_remind(
            settings=settings,
            plan_path=plan_file,
            from_store=from_store,
            now=moment,
            dry_run=dry_run,
            alerts_path=alerts_file,
            use_alerts=not no_alerts,
            models_dir=models,
        )
    failed = 0 if outcome.dispatch is None else outcome.dispatch.failed
    if as_json:
        typer.echo(json.dumps(outcome.as_dict()))
    else:
        _print_remind(outcome, dry_run=dry_run)
    raise typer.Exit(EXIT_REJECTED_ROWS if failed else EXIT_OK)


def _check_targets(
    plan_file: Path | None, *, from_store: bool, alerts_file: Path | None, no_alerts: bool
) -> None:
    """Refuse target options that contradict each other (a usage error, exit 2)."""
    if plan_file is not None and from_store:
        raise typer.BadParameter("give --plan or --from-store, not both", param_hint="--plan")
    if alerts_file is not None and from_store:
        raise typer.BadParameter(
            "--alerts goes with --plan (or alone); --from-store scores alerts from the store",
            param_hint="--alerts",
        )
    if alerts_file is not None and no_alerts:
        raise typer.BadParameter("give --alerts or --no-alerts, not both", param_hint="--alerts")


def _print_remind(outcome: RemindOutcome, *, dry_run: bool) -> None:
    """Notes on stderr; the dry run's table, the targets and the dispatch on stdout."""
    for note in (outcome.alerts_note, outcome.language_note()):
        if note is not None:
            stderr_console().print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    console = stdout_console()
    if dry_run and len(outcome.view):
        console.print(_remind_table(outcome))
        if len(outcome.view) > _REMIND_ROWS:
            console.print(f"... and {len(outcome.view) - _REMIND_ROWS:,} more")
    decided = ", ".join(f"{count:,} {name}" for name, count in outcome.decisions.items())
    verb = "would queue" if dry_run else "queued"
    console.print(
        f"{outcome.targets:,} targets ({decided}); {verb} {outcome.queued:,}, "
        f"{outcome.already_queued:,} already queued, {outcome.not_queued:,} unknown loans; "
        f"{outcome.due_now:,} queued messages due now"
    )
    if outcome.alerts:
        console.print(
            f"{outcome.alert_targets:,} of the targets come from {outcome.alerts:,} "
            "early-warning alerts (source: alert)"
        )
    if outcome.dispatch is not None:
        _print_dispatch(outcome.dispatch)


def _print_dispatch(dispatch: DispatchCounts) -> None:
    """What the run sent, and what waits for a person (in doubt, failed)."""
    console = stdout_console()
    counts = [
        (name, count) for name, count in dispatch.as_dict().items() if name != "failed_reasons"
    ]
    console.print(f"Dispatch: {', '.join(f'{count:,} {name}' for name, count in counts)}")
    if dispatch.unconfirmed or dispatch.recovered_unconfirmed:
        console.print(
            "Delivery in doubt: check the mail server's log, then settle them "
            "(`loan-recovery outbox list --state held --reason unconfirmed`, "
            "`outbox release ID`).",
            highlight=False,
        )
    if dispatch.failed:
        reasons = ", ".join(
            f"{count:,} {reason}" for reason, count in dispatch.failed_reasons.items()
        )
        console.print(
            f"[bold red]{dispatch.failed:,} failed[/] ({reasons}); the rest of the run went on. "
            "List them with `loan-recovery outbox list --state failed`.",
            highlight=False,
        )


# --- the outbox -------------------------------------------------------------------------------
outbox_app = typer.Typer(
    help="The reminder outbox: list messages, settle ones in doubt or stuck.",
    no_args_is_help=True,
)

#: Characters of a message's last error shown in `outbox list`.
_ERROR_WIDTH = 60


def _outbox_table(listing: OutboxListing) -> Table:
    """A page of outbox messages; addresses masked, no names."""
    page = listing.page
    shown = f"{page.offset + 1:,}-{page.offset + len(page.items):,}" if page.items else "none"
    table = Table(title=f"Outbox messages {shown} of {page.total:,} (newest first)")
    headers = ("id", "loan", "campaign", "date", "channel", "to", "status", "reason")
    for header in (*headers, "tries", "scheduled (UTC)", "last error"):
        table.add_column(header, justify="right" if header in ("id", "tries") else "left")
    for item in page.items:
        error = (item.last_error or "")[:_ERROR_WIDTH]
        table.add_row(
            str(item.id),
            item.loan_id,
            item.campaign,
            item.campaign_date.isoformat(),
            item.channel,
            listing.to.get(item.id, ""),
            item.status,
            item.reason or "",
            str(item.attempts),
            f"{item.scheduled_for:%Y-%m-%d %H:%M}",
            error,
        )
    return table


@outbox_app.command("list")
@user_errors
def outbox_list(
    status: Annotated[
        str | None,
        typer.Option(
            "--state",
            "--status",
            help="Only this state: pending, deferred, sending, delivering, sent, failed, held.",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            help="Only this reason, e.g. unconfirmed, opted-out, quiet-hours, invalid-address, "
            "retries-exhausted."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1_000, help="Messages shown.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Messages skipped (paging).")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as JSON.")] = False,
) -> None:
    """List outbox messages, newest first, with masked addresses and counts per state.

    A failed message shows why (reason and last error; never the address). A message held
    as `unconfirmed` (its delivery was in doubt when a sender stopped), or still
    `sending`/`delivering` after its sender stopped, waits for a person: check the mail
    server's log, then `outbox release ID`.
    """
    settings = current_settings()
    require_database_driver(settings)
    listing = run_outbox_list(
        settings=settings, status=status, reason=reason, limit=limit, offset=offset
    )
    if as_json:
        items = [{**asdict(item), "to": listing.to.get(item.id, "")} for item in listing.page.items]
        payload = {"total": listing.page.total, "counts": listing.counts, "items": items}
        typer.echo(json.dumps(payload, default=str))
        return
    _print_outbox(listing)


def _print_outbox(listing: OutboxListing) -> None:
    """The page of messages, the counts per state, and what waits for a person."""
    console = stdout_console()
    console.print(_outbox_table(listing))
    counts = ", ".join(f"{count:,} {name}" for name, count in listing.counts.items() if count)
    console.print(f"Outbox: {counts or 'empty'}")
    if listing.unconfirmed:
        console.print(
            f"{listing.unconfirmed:,} held as unconfirmed (`outbox list --reason unconfirmed`): "
            "check the mail server's log, then `outbox release ID --resend` or `--mark-sent`.",
            highlight=False,
        )
    in_flight = listing.counts.get("sending", 0) + listing.counts.get("delivering", 0)
    if in_flight:
        console.print(
            f"{in_flight:,} in flight (`outbox list --state sending`, `--state delivering`): "
            "a sender holds them now, or stopped; the next `remind` run settles those older "
            "than notify.claim_lease_seconds, or settle one with `outbox release ID`.",
            highlight=False,
        )
    if listing.counts.get("failed", 0):
        console.print(
            f"{listing.counts['failed']:,} failed (`outbox list --state failed`): the reason "
            "column says why; they are not sent again.",
            highlight=False,
        )


@outbox_app.command("release")
@user_errors
def outbox_release(
    outbox_id: Annotated[int, typer.Argument(metavar="ID", min=1, help="Id from `outbox list`.")],
    resend: Annotated[
        bool,
        typer.Option("--resend", help="It never arrived (or is not sent yet): send it now."),
    ] = False,
    mark_sent: Annotated[
        bool,
        typer.Option("--mark-sent", help="It did arrive (the mail log says so): record it sent."),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Act as at this ISO time (UTC unless it has an offset)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Settle a message that is not final: in doubt, stuck in flight, or waiting.

    --resend puts it back in the queue, due now: the next `remind` run asks the contact
    rules again and sends it. --mark-sent records it as sent. By state: held as
    unconfirmed, or `delivering` (claimed longer than notify.claim_lease_seconds ago):
    either, after checking the
    mail server's log. `sending` (its handover never began, so it cannot have arrived),
    `pending`, `deferred`: --resend only. `sent`, `failed` and held by the contact rules
    are final. Both choices are audited.

    --json prints the message as `outbox list --json` lists it, without the address: its
    "id", "loan_id", "campaign", "channel", "status" (now), "reason", "scheduled_for",
    "attempts", "last_error" and timestamps.
    """
    if resend == mark_sent:
        raise ConfigError("give exactly one of --resend and --mark-sent.")
    moment = _parse_now(now)
    settings = current_settings()
    require_database_driver(settings)
    record = run_outbox_release(outbox_id, settings=settings, resend=resend, now=moment)
    if as_json:
        typer.echo(json.dumps(asdict(record), default=str))
        return
    then = (
        "it goes out on the next `loan-recovery remind` run" if resend else "recorded as delivered"
    )
    stdout_console().print(
        f"Outbox message [bold]{record.id}[/] (loan {record.loan_id}, {record.channel}) is "
        f"now {record.status}: {then}",
        highlight=False,
    )
