"""Strategy: from expected recoveries to a recommended action per loan.

``actions`` prices every action (expected recovered, cost, net) and knows which loans it
may work; ``rules`` removes actions the business or the law forbids, saying why;
``policy`` picks the best allowed action, plans a whole book under capacity and budget,
and runs the named baseline policies the learned one is compared against.
"""

from __future__ import annotations

from loan_recovery.strategy.actions import HOLD, ActionCatalogue
from loan_recovery.strategy.policy import (
    POLICY_NAMES,
    CapacityPlan,
    best_allowed,
    decide,
    greedy_with_capacity,
    optimise_with_capacity,
    policy_actions,
)
from loan_recovery.strategy.rules import GUARDRAILS, GuardrailOutcome, apply_guardrails

__all__ = [
    "GUARDRAILS",
    "HOLD",
    "POLICY_NAMES",
    "ActionCatalogue",
    "CapacityPlan",
    "GuardrailOutcome",
    "apply_guardrails",
    "best_allowed",
    "decide",
    "greedy_with_capacity",
    "optimise_with_capacity",
    "policy_actions",
]
