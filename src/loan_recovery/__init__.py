"""loan-recovery: turn a lender's loan data into a recovery plan.

The Python API (:mod:`loan_recovery.python_api`) is importable from here::

    import loan_recovery as lr

    loans = lr.simulate(20_000, seed=1)
    models = lr.load_models()                # the champion of the configured registry
    plan = lr.plan(loans, models)
    plan.worklist.head()

Its functions load on first use, so ``import loan_recovery`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from loan_recovery.python_api import (
        evaluate_policy,
        load_models,
        plan,
        score,
        settings,
        simulate,
        train,
        validate,
    )

__all__ = [
    "__version__",
    "evaluate_policy",
    "load_models",
    "plan",
    "score",
    "settings",
    "simulate",
    "train",
    "validate",
]


def __getattr__(name: str) -> Any:
    """The Python API's functions, imported when first asked for."""
    if name in __all__ and name != "__version__":
        return getattr(import_module("loan_recovery.python_api"), name)
    raise AttributeError(f"module 'loan_recovery' has no attribute {name!r}")
