"""The one action catalogue: every recovery action, and hold, named once.

Config (default costs), the strategy (values, eligibility, fallbacks), the simulator
(response shapes, logging policy) and the dashboard (colours) all read this module, so
adding an action touches this file plus its response shape in ``simulation/outcomes.py``.

Each entry carries what the rest of the system needs to know about an action:

* ``fixed_cost`` and ``recovery_share``: the default cost per loan worked and the share of
  the money it brings in that the action gives away (agency commission, lawyer's fee);
  ``settings.actions`` may override both.
* ``days_to_money``: typical days from the action to the money arriving, used to discount
  its recoveries at the lender's cost of funds. Sources, Indian retail collections:
  an SMS/email nudge is paid within the billing cycle (15 days); an agent call's promise
  to pay falls due in about a month (30); a one-time settlement is negotiated and paid in
  4-8 weeks (45); a restructure is sanctioned in about two months (60, its instalments
  then run over the new schedule, valued separately in ``finance``); field agencies work
  an allocation over a quarter (90); legal recovery through SARFAESI or a civil suit
  typically takes 12-24 months in India (540). Left alone, a borrower pays what they pay
  at the next billing cycle (hold: 30), so a reminder's only timing gain is a fortnight.
* ``collection_method``: the canonical ``Collection_Method`` a lender's export shows for
  the action (hold shows the catalogue name, as no canonical method means "nothing").
* ``min_days_past_due`` / ``max_days_past_due`` / ``requires_collateral``: eligibility.
  Legal action needs an NPA (DPD > 90, RBI's SARFAESI threshold).
* ``capacity_limited``: the action uses a scarce resource (agents, branches, lawyers, an
  agency's allocation): the "same capacity" comparison holds every policy to the BAU
  rule's use of these.
* ``fallback``: what a rule-based policy does instead when a guardrail forbids the action
  (legal -> agency -> call -> reminder -> hold).
* ``colour``: one chart colour per action, the same on every chart.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The arm of doing nothing: no cost, the borrower's own (self-cure) payments.
HOLD = "hold"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One catalogue entry (see the module docstring for each field's meaning)."""

    name: str
    description: str
    channel: str
    collection_method: str
    fixed_cost: float
    recovery_share: float
    days_to_money: int
    colour: str
    min_days_past_due: int = 0
    max_days_past_due: int | None = None
    requires_collateral: bool = False
    capacity_limited: bool = False
    fallback: str | None = None


HOLD_SPEC = ActionSpec(
    name=HOLD,
    description="No action this cycle: the borrower's own payments",
    channel="none",
    collection_method=HOLD,
    fixed_cost=0.0,
    recovery_share=0.0,
    days_to_money=30,
    colour="#bab0ac",
)

#: The recovery actions, cheapest and softest first (ties in value go to the first).
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(
        name="reminder",
        description="Automated SMS/email nudge",
        channel="sms/email",
        collection_method="Calls",
        fixed_cost=50.0,
        recovery_share=0.0,
        days_to_money=15,
        colour="#4e79a7",
        fallback=HOLD,
    ),
    ActionSpec(
        name="call",
        description="Agent follow-up call",
        channel="phone",
        collection_method="Calls",
        fixed_cost=600.0,
        recovery_share=0.0,
        days_to_money=30,
        colour="#76b7b2",
        capacity_limited=True,
        fallback="reminder",
    ),
    ActionSpec(
        name="restructure",
        description="EMI restructuring: longer tenure, lower instalment",
        channel="branch",
        collection_method="Settlement Offer",
        fixed_cost=4_000.0,
        recovery_share=0.0,
        days_to_money=60,
        colour="#59a14f",
        capacity_limited=True,
        fallback="call",
    ),
    ActionSpec(
        name="settlement",
        description="One-time settlement offer at a discount",
        channel="phone",
        collection_method="Settlement Offer",
        fixed_cost=2_000.0,
        recovery_share=0.0,
        days_to_money=45,
        colour="#edc948",
        fallback="call",
    ),
    ActionSpec(
        name="legal",
        description="Legal notice and proceedings (SARFAESI / civil suit)",
        channel="court",
        collection_method="Legal Notice",
        fixed_cost=25_000.0,
        recovery_share=0.05,
        days_to_money=540,
        colour="#e15759",
        min_days_past_due=91,
        capacity_limited=True,
        fallback="agency",
    ),
    ActionSpec(
        name="agency",
        description="External collection agency on commission",
        channel="field",
        collection_method="Debt Collectors",
        fixed_cost=3_000.0,
        recovery_share=0.15,
        days_to_money=90,
        colour="#b07aa1",
        capacity_limited=True,
        fallback="call",
    ),
)

#: Recovery action names in catalogue order (hold excluded: it is not an action).
ACTION_NAMES: tuple[str, ...] = tuple(spec.name for spec in ACTIONS)
#: Every arm a loan can be given, hold first.
ARM_NAMES: tuple[str, ...] = (HOLD, *ACTION_NAMES)
#: Actions that use a scarce resource ("same capacity" holds every policy to BAU's use).
CAPACITY_LIMITED: tuple[str, ...] = tuple(s.name for s in ACTIONS if s.capacity_limited)
#: Chart colour of every arm.
COLOURS: dict[str, str] = {spec.name: spec.colour for spec in (HOLD_SPEC, *ACTIONS)}
#: What a rule does when a guardrail forbids its action.
FALLBACKS: dict[str, str] = {s.name: s.fallback for s in ACTIONS if s.fallback is not None}


def spec(name: str) -> ActionSpec:
    """The catalogue entry of ``name`` (hold included); KeyError names the known arms."""
    for entry in (HOLD_SPEC, *ACTIONS):
        if entry.name == name:
            return entry
    raise KeyError(f"unknown action {name!r}; the catalogue has {list(ARM_NAMES)}.")
