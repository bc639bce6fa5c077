"""Contact rules a borrower sets: opting out of reminders (an inbound STOP).

Role: agent. ``POST /v1/contacts/opt-out`` records the request where no later import can
undo it, sets the borrower's flag, holds their queued reminders when every channel is
stopped, and writes an audit row naming the caller; from then on the contact policy
holds every reminder to them (see :mod:`loan_recovery.notify.optout`). It takes an
``Idempotency-Key`` header: a retried request records no second opt-out.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Self

from fastapi import APIRouter, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from loan_recovery.api.deps import Agent, IdempotencyDep, SessionDep
from loan_recovery.api.routes.responses import AUTHENTICATED, IDEMPOTENT, errors
from loan_recovery.api.schemas import TEXT_PATTERN, RequestModel, one_of
from loan_recovery.notify.optout import opt_out
from loan_recovery.store.audit import redact_text
from loan_recovery.store.models import LABEL_LENGTH, TEXT_LENGTH, Channel

#: The ``channel`` that stops every channel (stored as no channel).
ALL_CHANNELS = "all"

if TYPE_CHECKING:
    ChannelChoice = str
else:
    ChannelChoice = one_of((*(channel.value for channel in Channel), ALL_CHANNELS))


class OptOutRequest(RequestModel):
    """Stop reminders to a borrower, named by one of their loans or by their id."""

    model_config = ConfigDict(extra="forbid")

    loan_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=TEXT_LENGTH,
        pattern=TEXT_PATTERN,
        description="One of the borrower's loans (give this or borrower_id)",
    )
    borrower_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=TEXT_LENGTH,
        pattern=TEXT_PATTERN,
        description="The borrower (give this or loan_id)",
    )
    channel: ChannelChoice = Field(
        default=ALL_CHANNELS, description="The channel to stop; all: every contact"
    )
    source: str = Field(
        default="api",
        min_length=1,
        max_length=LABEL_LENGTH,
        pattern=TEXT_PATTERN,
        description='What asked, e.g. "STOP" (an inbound SMS) or "call"',
    )

    @model_validator(mode="after")
    def _exactly_one_target(self) -> Self:
        if (self.loan_id is None) == (self.borrower_id is None):
            raise ValueError("give exactly one of loan_id and borrower_id")
        return self


class OptOutResult(BaseModel):
    """What an opt-out did (no personal data)."""

    id: int = Field(description="The opt-out's record")
    borrower_id: str
    channel: ChannelChoice
    source: str
    loans: list[str] = Field(description="The borrower's loans, none reminded on the channel")
    held_messages: int = Field(
        ge=0, description="Queued reminders held at once (when every channel is stopped)"
    )
    at: datetime


router = APIRouter(prefix="/contacts", tags=["contacts"], responses=errors(*AUTHENTICATED))


@router.post(
    "/opt-out",
    response_model=OptOutResult,
    status_code=status.HTTP_201_CREATED,
    responses=errors(404, *IDEMPOTENT),
)
def post_opt_out(
    body: OptOutRequest, principal: Agent, session: SessionDep, idempotency: IdempotencyDep
) -> Response:
    """Stop reminders to a borrower (all channels, or one); audited. Role: agent.

    With an Idempotency-Key a retry answers as the first request did and records no
    second opt-out. ``source`` is a label: phone numbers and addresses in it are redacted.
    """
    if (earlier := idempotency.claim(session, body)) is not None:
        return idempotency.replay(earlier)
    channel = None if body.channel == ALL_CHANNELS else body.channel
    record = opt_out(
        session,
        actor=principal.name,
        loan_id=body.loan_id,
        borrower_id=body.borrower_id,
        channel=channel,
        source=redact_text(body.source),
    )
    result = OptOutResult(
        id=record.id,
        borrower_id=record.borrower_id,
        channel=record.channel or ALL_CHANNELS,
        source=record.source,
        loans=record.loans,
        held_messages=record.held_messages,
        at=record.at,
    )
    return idempotency.respond(
        session, status.HTTP_201_CREATED, result.model_dump_json().encode("utf-8")
    )
