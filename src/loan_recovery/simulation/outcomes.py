"""Potential outcomes: what every loan would recover under every arm, hold included.

For each arm (``schema.ARM_NAMES``: hold first, then the catalogue's actions), the share
of the outstanding recovered within ``settings.simulator.horizon_days`` is a three-part
mixture: the loan *cures* (paid up or back to performing), it yields a *partial* amount
(a Beta draw around a mean), or next to *nothing* (a Beta draw around 3%).

* **hold** is a real arm: left alone, a borrower self-cures with chance ``p0`` (able,
  willing, not deep in arrears; a current loan that stays current counts as cured), and
  otherwise pays a little on their own now and then (chance 0.10, a quarter of the
  balance). Current (DPD 0) loans self-cure with chance ~0.9, as retail books roll only a
  few percent a month from current to 30+ DPD.
* every action adds a lift on top, ``p_cure = p0 + (1 - p0) x lift``:

  - reminder: lift needs digital reach, capacity and above all forgetfulness, and fades
    fast with DPD: best for able payers whose delay looks like forgetting;
  - call: lift from capacity, willingness and phone reach, fading slowly with DPD;
  - restructure: lift when the instalment burden is high (EMI-to-income above ~45%) and
    willingness and earning strength are good. A cured restructure is worth the present
    value of its new schedule, not the balance: ``finance.restructure_value_factor``
    (rate concession, tenure extension, a re-default chance that falls with capacity and
    willingness around ``economics.restructure_redefault_chance``);
  - settlement: the borrower accepts a discounted lump sum (50-75% of the outstanding)
    with a chance rising with willingness and DPD and *falling* with capacity;
  - legal: a cure lift from capacity and collateral cover, and on secured NPAs
    enforcement with chance 0.65 recovering 75% of the collateral (up to 95% of the
    balance), less after a prior legal action;
  - agency: field visits reach everyone alike, so its lift ignores reachability.

The shapes are calibrated to a 180-day horizon; another ``horizon_days`` rescales every
chance at a constant hazard, 1 - (1 - p)^(H / 180).

**Money.** The value of arm a on a loan with balance B is the plan's formula (DESIGN's
decision economics), with the true expected fraction:
``V(a) = E[fraction] x B x (1 - recovery_share) x DF(days_to_money) - fixed_cost`` and
``V(hold) = E[fraction_hold] x B x DF(hold_days_to_money)``, where ``DF(t) = (1 +
cost_of_funds) ** (-t / 365)``. Realised outcomes share one uniform draw per loan across
arms (common random numbers), so potential outcomes are coupled as in real life.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError
from loan_recovery.finance import discount_factor, restructure_value_factor

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ARMS: tuple[str, ...] = schema.ARM_NAMES
HOLD_COLUMN = ARMS.index(schema.HOLD)
RESTRUCTURE_COLUMN = ARMS.index("restructure")

#: The horizon the response shapes are calibrated to (days).
CALIBRATION_HORIZON_DAYS = 180.0
NOTHING_MEAN = 0.03
_NOTHING_CONCENTRATION = 8.0
_PARTIAL_CONCENTRATION = 20.0
#: Self-cure bonus of a loan that is current today: it only has to stay current.
_CURRENT_BONUS = 2.2
#: Partial outcome when a soft arm does not cure: its chance and its mean fraction.
_SOFT_PARTIAL: dict[str, tuple[float, float]] = {
    schema.HOLD: (0.10, 0.25),
    "reminder": (0.15, 0.25),
    "call": (0.35, 0.35),
    "restructure": (0.30, 0.40),
    "agency": (0.45, 0.45),
}


class Drivers(NamedTuple):
    """What every response shape reads: traits plus a few observable ratios."""

    capacity: FloatArray
    willingness: FloatArray
    earning: FloatArray
    forgetfulness: FloatArray
    phone_reach: FloatArray  # chance a call or an offer gets through
    digital_reach: FloatArray  # chance an SMS/email is read
    severity: FloatArray  # sqrt(DPD / 180), capped at 2: 0 current, 1 at 180 days
    current: FloatArray  # 1.0 for a loan at DPD 0
    coverage: FloatArray  # collateral / outstanding
    strain: FloatArray  # 0..1, how far the EMI burden sits above ~45% of income
    prior_legal: FloatArray  # 1.0 when legal action was taken before
    enforceable: BoolArray  # secured NPA: collateral can be enforced (SARFAESI)
    rate: FloatArray  # contractual annual rate, percent
    remaining_months: FloatArray  # instalments left on the schedule


class Responses(NamedTuple):
    """Mixture parts per loan (rows) and arm (columns, ``ARMS`` order).

    ``cure_value`` is what a cure is worth per unit of balance: 1 for every arm but
    restructure, whose cure is its new schedule's present value.
    """

    p_cure: FloatArray
    p_partial: FloatArray
    partial_mean: FloatArray
    cure_value: FloatArray


def sigmoid(x: npt.ArrayLike) -> FloatArray:
    """Logistic function: turns additive scores into probabilities."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def beta_around(rng: np.random.Generator, mean: FloatArray, concentration: float) -> FloatArray:
    """Beta draws with the given means: noise around an expectation, kept inside (0, 1)."""
    clipped = np.clip(mean, 1e-3, 1.0 - 1e-3)
    return rng.beta(clipped * concentration, (1.0 - clipped) * concentration)


def self_cure(d: Drivers) -> FloatArray:
    """Chance the loan cures (or stays current) with no action at all."""
    return sigmoid(
        0.1
        + 1.3 * d.capacity
        + 1.0 * d.willingness
        - 0.5 * d.forgetfulness
        - 2.2 * d.severity
        + _CURRENT_BONUS * d.current
    )


def _lifts(d: Drivers) -> dict[str, FloatArray]:
    """Extra cure chance each action adds on top of self-cure (see the module docstring)."""
    c, w, f, e, s = d.capacity, d.willingness, d.forgetfulness, d.earning, d.severity
    return {
        "reminder": d.digital_reach * sigmoid(-0.6 + 1.2 * c + 0.3 * w + 1.8 * f - 3.0 * s),
        "call": d.phone_reach * sigmoid(-1.2 + 1.0 * c + 0.8 * w + 0.4 * f - 0.8 * s),
        "restructure": d.phone_reach * sigmoid(-1.8 + 1.2 * w + 1.3 * e + 3.0 * d.strain - 0.6 * s),
        "legal": 0.95
        * sigmoid(-2.0 + 0.8 * c + 0.8 * np.minimum(d.coverage, 2.0) - 0.8 * d.prior_legal),
        "agency": 0.9 * sigmoid(-0.9 + 0.9 * c + 0.4 * w - 0.6 * s),
    }


def _settlement(d: Drivers, cure_alone: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(cure, settle, settled share): willing, unable borrowers take the discount.

    Whoever accepts pays only the share, even a borrower who would have cured alone:
    that is what makes settlement costly.
    """
    accept = d.phone_reach * sigmoid(2.0 * d.willingness - 1.0 * d.capacity + 1.0 * d.severity)
    share = 0.50 + 0.25 * sigmoid(d.capacity)
    return (1.0 - accept) * cure_alone, accept, share


def _legal_partial(d: Drivers) -> tuple[FloatArray, FloatArray]:
    """(chance, mean fraction) of a part-recovery under legal action.

    On a secured NPA the collateral is enforced with chance 0.65 (halved after a prior
    legal action) and a distress sale fetches 75% of its value, up to 95% of what is
    owed; otherwise a notice brings a small part-payment now and then.
    """
    chance = np.where(d.enforceable, 0.65 * (1.0 - 0.5 * d.prior_legal), 0.15)
    mean = np.where(d.enforceable, np.minimum(0.75 * d.coverage, 0.95), 0.2)
    return chance, mean


def restructure_cure_value(d: Drivers, settings: Settings) -> FloatArray:
    """Present value of a cured restructure per unit of balance (see ``finance``).

    The re-default chance is ``economics.restructure_redefault_chance`` for an average
    borrower, lower for able and willing ones (logit shifts of 0.8 and 0.5 per s.d.).
    """
    economics = settings.economics
    base = np.clip(economics.restructure_redefault_chance, 1e-6, 1.0 - 1e-6)
    chance = sigmoid(np.log(base / (1.0 - base)) - 0.8 * d.capacity - 0.5 * d.willingness)
    return restructure_value_factor(
        d.rate,
        d.remaining_months,
        rate_concession=economics.restructure_rate_concession,
        extension_months=economics.restructure_extension_months,
        redefault_chance=chance,
        redefault_recovery=economics.restructure_redefault_recovery,
    )


def responses(d: Drivers, settings: Settings) -> Responses:
    """Cure chance, partial chance and mean, and cure value of every arm, in ARMS order."""
    cure_alone = self_cure(d)
    lifts = _lifts(d)
    parts: dict[str, tuple[FloatArray, FloatArray, FloatArray]] = {}
    for arm in ARMS:
        if arm == "settlement":
            parts[arm] = _settlement(d, cure_alone)
            continue
        lift = lifts.get(arm, np.zeros_like(cure_alone))
        cure = cure_alone + (1.0 - cure_alone) * lift
        if arm == "legal":
            chance, mean = _legal_partial(d)
        else:
            share, mean_value = _SOFT_PARTIAL[arm]
            chance, mean = np.full_like(cure, share), np.full_like(cure, mean_value)
        parts[arm] = (cure, (1.0 - cure) * chance, mean)
    cure_value = np.ones((len(cure_alone), len(ARMS)))
    cure_value[:, RESTRUCTURE_COLUMN] = restructure_cure_value(d, settings)
    return Responses(
        p_cure=np.column_stack([parts[arm][0] for arm in ARMS]),
        p_partial=np.column_stack([parts[arm][1] for arm in ARMS]),
        partial_mean=np.column_stack([parts[arm][2] for arm in ARMS]),
        cure_value=cure_value,
    )


def over_horizon(responses: Responses, horizon_days: int) -> Responses:
    """Rescale cure and partial chances from the calibration horizon to ``horizon_days``.

    Each event is taken to arrive at a constant hazard, so a chance p over 180 days is
    1 - (1 - p)^(H / 180) over H days: a longer horizon recovers more, never less.
    """
    scale = horizon_days / CALIBRATION_HORIZON_DAYS
    if scale == 1.0:
        return responses
    not_cured = 1.0 - responses.p_cure
    cure = 1.0 - np.power(not_cured, scale)
    partial_given_no_cure = np.divide(
        responses.p_partial, not_cured, out=np.zeros_like(not_cured), where=not_cured > 0
    )
    partial = (1.0 - cure) * (1.0 - np.power(1.0 - partial_given_no_cure, scale))
    return responses._replace(p_cure=cure, p_partial=partial)


def expected_fraction(responses: Responses) -> FloatArray:
    """E[fraction] = p_cure x cure value + p_partial x partial mean + p_nothing x 3%."""
    p_nothing = 1.0 - responses.p_cure - responses.p_partial
    return (
        responses.p_cure * responses.cure_value
        + responses.p_partial * responses.partial_mean
        + p_nothing * NOTHING_MEAN
    )


def realised_fraction(rng: np.random.Generator, responses: Responses) -> FloatArray:
    """One draw per loan and arm; one shared uniform per loan couples the arms."""
    n = len(responses.p_cure)
    uniform = rng.random(n)[:, None]
    partial = beta_around(rng, responses.partial_mean, _PARTIAL_CONCENTRATION)
    nothing = beta_around(
        rng, np.full(responses.p_cure.shape, NOTHING_MEAN), _NOTHING_CONCENTRATION
    )
    cured = uniform < responses.p_cure
    partly = ~cured & (uniform < responses.p_cure + responses.p_partial)
    return np.where(cured, responses.cure_value, np.where(partly, partial, nothing))


def arm_economics(settings: Settings) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Fixed cost, recovery share and discount factor of every arm, in ARMS order.

    Costs come from ``settings.actions`` (hold costs nothing), the discount factors from
    each action's ``days_to_money`` (hold: ``economics.hold_days_to_money``) at the
    lender's ``economics.cost_of_funds``.
    """
    actions = ARMS[1:]
    missing = [action for action in actions if action not in settings.actions]
    if missing:
        raise ConfigError(f"the simulator needs a cost entry for actions {missing}.")
    fixed = np.array([0.0, *(settings.actions[a].fixed_cost for a in actions)])
    share = np.array([0.0, *(settings.actions[a].recovery_share for a in actions)])
    days = np.array(
        [
            settings.economics.hold_days_to_money,
            *(settings.actions[a].days_to_money for a in actions),
        ]
    )
    return fixed, share, discount_factor(days, settings.economics.cost_of_funds)


def expected_net(fraction: FloatArray, outstanding: FloatArray, settings: Settings) -> FloatArray:
    """Discounted expected net recovery of every arm (the decision economics' V)."""
    fixed, share, discount = arm_economics(settings)
    net: FloatArray = fraction * outstanding[:, None] * (1.0 - share) * discount - fixed
    return net
