"""The configured action catalogue as arrays: what each action costs, when it pays, whom
it may work.

The catalogue turns the outcome model's expected recovered *fractions* (one column per
action) into money: recovered amount, cost, and discounted net recovery. Everything is
read from ``settings.actions`` and ``settings.economics`` once, into arrays in
``schema.ACTION_NAMES`` order, so the arithmetic over a whole book is a handful of
vectorised numpy operations and no other module repeats it (the names, defaults and
colours themselves live in ``loan_recovery.actions``).

Value of action ``a`` on loan ``i`` (DESIGN's decision economics)::

    recovered[i, a] = fraction[i, a] * outstanding[i]
    cost[i, a]      = fixed_cost[a] + recovery_share[a] * recovered[i, a]
    value[i, a]     = recovered[i, a] * (1 - recovery_share[a]) * DF(days_to_money[a])
                      - fixed_cost[a]
    value[i, hold]  = fraction[i, hold] * outstanding[i] * DF(hold_days_to_money)
    uplift[i, a]    = value[i, a] - value[i, hold]

with ``DF(t) = (1 + cost_of_funds) ** (-t / 365)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from loan_recovery.config import Settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, SchemaError
from loan_recovery.finance import discount_factor

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Plan label of a loan that gets no action this cycle: no allowed action adds enough over
#: leaving it alone, every action was removed by the guardrails, or a capacity/budget plan
#: could not fit it. It costs nothing and is worth what the borrower pays on their own
#: (the outcome models' hold arm): the reference every action's uplift is measured from.
HOLD = schema.HOLD

#: Columns :meth:`ActionCatalogue.eligibility` reads.
ELIGIBILITY_COLUMNS: tuple[str, ...] = (schema.DAYS_PAST_DUE, schema.COLLATERAL_VALUE)


def _floats(values: Sequence[float]) -> FloatArray:
    """A read-only float copy: the catalogue is a value object nobody may edit in place."""
    array: FloatArray = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


def _flags(values: Sequence[bool]) -> BoolArray:
    """A read-only bool copy (see :func:`_floats`)."""
    array: BoolArray = np.array(values, dtype=np.bool_)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, slots=True, eq=False)
class ActionCatalogue:
    """The configured actions as parallel arrays, in ``schema.ACTION_NAMES`` order.

    Build it with :meth:`from_settings`; the arrays are read-only. ``max_days_past_due`` is
    ``inf`` where an action has no upper DPD bound.
    """

    names: tuple[str, ...]
    fixed_cost: FloatArray
    recovery_share: FloatArray
    channels: tuple[str, ...]
    collection_methods: tuple[str, ...]
    descriptions: tuple[str, ...]
    min_days_past_due: FloatArray
    max_days_past_due: FloatArray
    requires_collateral: BoolArray
    discount: FloatArray
    hold_discount: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ActionCatalogue:
        """Read ``settings.actions`` (already validated: known names, costs >= 0).

        The order is the schema's, not the settings file's, so column positions are stable
        whatever order a lender's config lists the actions in.
        """
        names = tuple(name for name in schema.ACTION_NAMES if name in settings.actions)
        if not names:
            raise ConfigError(
                f"the action catalogue is empty; configure at least one of "
                f"{list(schema.ACTION_NAMES)}."
            )
        configs = [settings.actions[name] for name in names]
        return cls(
            names=names,
            fixed_cost=_floats([c.fixed_cost for c in configs]),
            recovery_share=_floats([c.recovery_share for c in configs]),
            channels=tuple(c.channel for c in configs),
            collection_methods=tuple(c.collection_method for c in configs),
            descriptions=tuple(c.description for c in configs),
            min_days_past_due=_floats([c.min_days_past_due for c in configs]),
            max_days_past_due=_floats(
                [np.inf if c.max_days_past_due is None else c.max_days_past_due for c in configs]
            ),
            requires_collateral=_flags([c.requires_collateral for c in configs]),
            discount=_floats(
                discount_factor(
                    [c.days_to_money for c in configs], settings.economics.cost_of_funds
                ).tolist()
            ),
            hold_discount=float(
                discount_factor(
                    settings.economics.hold_days_to_money, settings.economics.cost_of_funds
                )
            ),
        )

    def __len__(self) -> int:
        return len(self.names)

    def index_of(self, action: str) -> int:
        """Column position of ``action``; a clear error for a name the catalogue lacks."""
        try:
            return self.names.index(action)
        except ValueError:
            raise ConfigError(
                f"unknown action {action!r}; the catalogue has {list(self.names)}."
            ) from None

    # --- money --------------------------------------------------------------------------
    def fraction_matrix(self, fractions: pd.DataFrame) -> FloatArray:
        """The fractions as an n x actions float array in catalogue order, checked.

        Fractions are shares of the outstanding: finite and within [0, 1]. Anything else is
        a broken model output, and pricing it would produce a confident but wrong plan.
        """
        missing = [name for name in self.names if name not in fractions.columns]
        if missing:
            raise SchemaError(
                f"expected recovered fractions need one column per action; missing {missing}, "
                f"got {list(fractions.columns)}.",
                missing_columns=tuple(missing),
            )
        matrix = fractions[list(self.names)].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(matrix) | (matrix < 0.0) | (matrix > 1.0)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise SchemaError(
                f"expected recovered fractions must be finite and within [0, 1]; "
                f"{int(bad.sum())} are not, first at row {fractions.index[row]!r}, "
                f"action {self.names[column]!r}: {matrix[row, column]!r}."
            )
        return matrix

    def expected_recovered(
        self, fractions: pd.DataFrame, outstanding: pd.Series | Sequence[float] | FloatArray
    ) -> pd.DataFrame:
        """Money each action is expected to bring in: fraction x outstanding."""
        return self._frame(self._recovered(fractions, outstanding), fractions.index)

    def cost(
        self, fractions: pd.DataFrame, outstanding: pd.Series | Sequence[float] | FloatArray
    ) -> pd.DataFrame:
        """Expected cost of each action: its fixed cost plus its share of what it recovers."""
        recovered = self._recovered(fractions, outstanding)
        return self._frame(self.fixed_cost + recovered * self.recovery_share, fractions.index)

    def expected_net(
        self, fractions: pd.DataFrame, outstanding: pd.Series | Sequence[float] | FloatArray
    ) -> pd.DataFrame:
        """Discounted expected net recovery: recovered x (1 - share) x DF - fixed cost."""
        recovered = self._recovered(fractions, outstanding)
        net = recovered * ((1.0 - self.recovery_share) * self.discount) - self.fixed_cost
        return self._frame(net, fractions.index)

    def hold_value(
        self, fractions: pd.DataFrame, outstanding: pd.Series | Sequence[float] | FloatArray
    ) -> pd.Series:
        """What each loan is worth left alone: its hold fraction x outstanding x DF(hold)."""
        if HOLD not in fractions.columns:
            raise SchemaError(
                f"the value of leaving a loan alone needs a {HOLD!r} fraction column; got "
                f"{list(fractions.columns)}. Retrain the outcome models to learn the hold arm.",
                missing_columns=(HOLD,),
            )
        share = fractions[HOLD].to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(share) | (share < 0.0) | (share > 1.0)
        if bad.any():
            raise SchemaError(
                f"hold fractions must be finite and within [0, 1]; {int(bad.sum())} are not."
            )
        amounts = outstanding_vector(outstanding, fractions.index)
        return pd.Series(
            share * amounts * self.hold_discount, index=fractions.index, name=HOLD, dtype=float
        )

    def _recovered(
        self, fractions: pd.DataFrame, outstanding: pd.Series | Sequence[float] | FloatArray
    ) -> FloatArray:
        matrix = self.fraction_matrix(fractions)
        amounts = outstanding_vector(outstanding, fractions.index)
        recovered: FloatArray = matrix * amounts[:, np.newaxis]
        return recovered

    def _frame(self, matrix: FloatArray, index: pd.Index) -> pd.DataFrame:
        return pd.DataFrame(matrix, index=index, columns=list(self.names))

    # --- eligibility --------------------------------------------------------------------
    def eligibility(self, table: pd.DataFrame) -> pd.DataFrame:
        """Which actions each loan may receive at all, from the catalogue alone.

        An action is eligible when the loan's DPD lies in its ``[min, max]`` window
        (inclusive) and, for actions that need it, the loan has collateral. Business and
        legal guardrails come on top of this (``strategy.rules``). A missing DPD or
        collateral value makes windowed / secured-only actions ineligible: the catalogue
        never assumes a loan qualifies.
        """
        missing = [column for column in ELIGIBILITY_COLUMNS if column not in table.columns]
        if missing:
            raise SchemaError(
                f"action eligibility needs columns {missing}; got {list(table.columns)}.",
                missing_columns=tuple(missing),
            )
        dpd = pd.to_numeric(table[schema.DAYS_PAST_DUE], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        collateral = pd.to_numeric(table[schema.COLLATERAL_VALUE], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        # NaN compares False, so unknown DPD fails any real window; an open window
        # (min 0, max inf) still has to admit it.
        open_window = (self.min_days_past_due <= 0) & np.isinf(self.max_days_past_due)
        in_window = (dpd[:, np.newaxis] >= self.min_days_past_due) & (
            dpd[:, np.newaxis] <= self.max_days_past_due
        )
        in_window |= open_window[np.newaxis, :]
        secured = (collateral > 0)[:, np.newaxis]
        eligible = in_window & (secured | ~self.requires_collateral[np.newaxis, :])
        return pd.DataFrame(eligible, index=table.index, columns=list(self.names))


def outstanding_vector(
    outstanding: pd.Series | Sequence[float] | FloatArray, index: pd.Index
) -> FloatArray:
    """Outstanding amounts as a float array matching ``index``, checked.

    A Series must carry exactly ``index`` (same loans, same order): silently re-aligning
    would price one loan's recovery with another's balance.
    """
    if isinstance(outstanding, pd.Series):
        if not outstanding.index.equals(index):
            raise SchemaError(
                "outstanding amounts must have the same index as the fractions "
                f"({len(index)} loans); got a different index of {len(outstanding)} loans."
            )
        amounts = pd.to_numeric(outstanding, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
    else:
        amounts = np.asarray(outstanding, dtype=np.float64).reshape(-1)
        if len(amounts) != len(index):
            raise SchemaError(
                f"need one outstanding amount per loan ({len(index)}); got {len(amounts)}."
            )
    bad = ~np.isfinite(amounts) | (amounts < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise SchemaError(
            f"outstanding amounts must be finite and >= 0; {int(bad.sum())} are not, first at "
            f"row {index[first]!r}: {amounts[first]!r}."
        )
    return amounts
