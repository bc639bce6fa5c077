"""Benchmark uplift learners: how well each ranks the true uplift over hold, and what its
greedy policy is truly worth, on the simulator.

For each training seed: simulate ``--loans`` loans of logged history (the lender's rule
with exploration; known ``Action_Propensity``), validate it and build what
``fit_outcome_model`` builds (risk design matrix, logged actions, recovered fraction,
recorded propensities), and fit every candidate of ``--learners``:

* the outcome models' learners (``t-pooled``, ``t-ipw``, ``s-ipw``, ``t-naive``): per-arm
  *levels*, :class:`~loan_recovery.models.outcomes.OutcomeModel`;
* ``dr`` and ``x``: :mod:`loan_recovery.models.uplift_learners` (effects over hold,
  boosted from the outcome models' plug-in effect, which DR first re-centres on its
  AIPW average effect); ``dr-const`` and ``x-const`` boost from a constant instead (the
  textbook form); ``dr-plugin`` from the plug-in without re-centring; ``dr-elig`` and
  ``x-elig`` restrict each arm's effect stage to the loans the catalogue allows it. Any
  of them may name the outcome learner of its nuisance after ``@`` (``dr@s-ipw``;
  default ``t-pooled``);
* ``econml-dr`` (only when econml is installed; it is not a project dependency):
  econml's ``DRLearner`` with the *known* logged propensities (a pass-through
  "classifier" reads them from W; a wrapper keeps W out of the outcome regression),
  XGBoost nuisance (S-learner on X + arm one-hot, as econml does) and a regularised
  XGBoost final stage, 3 folds; its hold level is the mean of its fold regressions.

Then on a fresh portfolio from seed + 10000 (``--fresh-loans`` loans) each candidate's
predicted fractions are valued by :func:`~loan_recovery.strategy.plan.value_actions`
(default settings, risk score 0.5 for every loan, no safety guard) and compared with the
simulator's truth, ``Expected_Net_Recovery_<arm>`` (discounted, same economics):

* AUUC per arm (:func:`~loan_recovery.strategy.uplift_metrics.auuc`, 1 = perfect ranking,
  0 = random) of the predicted uplift in money against the true uplift
  ``Expected_Net_Recovery_<arm> - Expected_Net_Recovery_hold``, over the loans the
  catalogue makes the arm eligible for (elsewhere the plan never considers it), and
  their mean over the six actions;
* the true value of the greedy policy (per loan, the allowed arm of largest predicted
  uplift when it is positive, else hold; the allowed mask is ``guard.allowed`` from the
  candidate's own ``value_actions``, as in the plan) against BAU (the simulator's rule,
  ``rule_of_thumb_actions``, through ``obey_guardrails``) and the oracle (largest true
  uplift among the arms allowed when the guardrails read the true fractions). Shown per
  loan (INR), as the gain over BAU, and as oracle capture = (V - V_bau) / (V_oracle -
  V_bau).

Every fit is seeded (the training seed); boosters train on one thread each, in parallel
over arms and folds.

    .venv/bin/python benchmarks/bench_uplift_learners.py --loans 50000 --seeds 101,102,103
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.base import BaseEstimator

import bench_support
from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.data.validation import validate_frame
from loan_recovery.models.design import risk_design_matrix
from loan_recovery.models.outcomes import (
    LEARNERS,
    OutcomeModel,
    history_propensities,
    logged_actions,
    recovered_fraction,
)
from loan_recovery.models.uplift_learners import EffectParams, make_uplift_learner
from loan_recovery.simulation.logging_policy import rule_of_thumb_actions
from loan_recovery.simulation.portfolio import simulate_portfolio
from loan_recovery.strategy.actions import ActionCatalogue
from loan_recovery.strategy.plan import ActionValues, value_actions
from loan_recovery.strategy.policy import best_allowed, obey_guardrails
from loan_recovery.strategy.uplift_metrics import auuc

FloatArray = npt.NDArray[np.float64]

DEFAULT_LOANS = 50_000
DEFAULT_SEEDS = (101, 102, 103)
DEFAULT_FRESH_LOANS = 20_000
FRESH_SEED_OFFSET = 10_000
RISK_SCORE = 0.5
UPLIFT_VARIANTS = ("dr", "x", "dr-const", "x-const", "dr-plugin", "dr-elig", "x-elig")
ECONML = "econml-dr"
DEFAULT_LEARNERS = (*LEARNERS, "dr", "x", "dr@s-ipw", "x@s-ipw", ECONML)


class FractionModel(Protocol):
    def predict_fractions(self, X: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class History:
    """A validated logged history and the inputs every learner fits on."""

    table: pd.DataFrame
    X: pd.DataFrame
    actions: npt.NDArray[np.str_]
    fraction: FloatArray
    propensity: FloatArray


@dataclass(frozen=True)
class Fresh:
    """A fresh portfolio to score, its design, the truth and the reference policies."""

    table: pd.DataFrame
    X: pd.DataFrame
    scores: pd.DataFrame
    true_net: pd.DataFrame  # arms, hold included
    true_fractions: pd.DataFrame  # arms, hold included
    true_uplift: pd.DataFrame  # actions
    eligible: pd.DataFrame  # actions
    allowed: pd.DataFrame  # actions the guardrails allow when they read the true fractions
    bau: npt.NDArray[np.str_]
    oracle: npt.NDArray[np.str_]
    valuation_gap: float  # max |value_actions(true fractions) - truth|, a sanity check


@dataclass(frozen=True)
class Result:
    learner: str
    fit_seconds: float
    auuc: dict[str, float]
    value: float  # mean true net per loan
    effect_rmse: float  # root mean squared error of tau_a (fraction), eligible loans, all arms
    hold_rmse: float  # root mean squared error of the hold fraction
    forbidden: int  # loans given an arm the truth's guardrails forbid


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=DEFAULT_LOANS, help="history loans")
    parser.add_argument(
        "--seeds",
        default=",".join(str(seed) for seed in DEFAULT_SEEDS),
        help="comma-separated training seeds (fresh portfolio: seed + 10000)",
    )
    parser.add_argument(
        "--fresh-loans", type=int, default=DEFAULT_FRESH_LOANS, help="loans scored per seed"
    )
    parser.add_argument(
        "--learners",
        default=",".join(DEFAULT_LEARNERS),
        help="comma-separated candidates: "
        + ", ".join([*LEARNERS, *UPLIFT_VARIANTS, ECONML])
        + "; an uplift learner may name its nuisance outcome learner after @ (dr@s-ipw)",
    )
    return parser.parse_args(argv)


# --- data ---------------------------------------------------------------------------------
def _history(settings: Settings, loans: int, seed: int) -> History:
    portfolio = simulate_portfolio(loans, seed, settings=settings)
    table = validate_frame(portfolio.loans, settings=settings, require_label=True).table
    X = risk_design_matrix(table, settings.risk)
    actions = logged_actions(table, settings.actions)
    outcomes = settings.strategy.outcomes
    return History(
        table=table,
        X=X,
        actions=actions,
        fraction=recovered_fraction(table, outcomes),
        propensity=history_propensities(table, X, actions, outcomes, seed),
    )


def _fresh(settings: Settings, loans: int, seed: int) -> Fresh:
    portfolio = simulate_portfolio(loans, seed, settings=settings)
    table = validate_frame(portfolio.loans, settings=settings).table
    truth = portfolio.truth.set_index(schema.LOAN_ID).loc[table[schema.LOAN_ID].to_numpy()]
    truth.index = table.index
    scores = pd.DataFrame({schema.RISK_SCORE: RISK_SCORE}, index=table.index)
    arms = list(schema.ARM_NAMES)
    true_fractions = pd.DataFrame(
        {arm: truth[schema.expected_fraction_column(arm)].to_numpy() for arm in arms},
        index=table.index,
    )
    true_net = pd.DataFrame(
        {arm: truth[schema.expected_net_column(arm)].to_numpy() for arm in arms},
        index=table.index,
    )
    reference = value_actions(table, scores, true_fractions, settings)
    actions = list(reference.uplift.columns)
    true_uplift = true_net[actions].sub(true_net[schema.HOLD], axis=0)
    gap = float(np.max(np.abs(reference.values.to_numpy() - true_net[actions].to_numpy())))
    allowed = reference.guard.allowed
    oracle = best_allowed(true_uplift, allowed & (true_uplift > 0)).to_numpy(dtype=np.str_)
    rule = rule_of_thumb_actions(table, settings.simulator.logging_rule)
    bau = obey_guardrails(rule.to_numpy(dtype=np.str_), allowed)
    return Fresh(
        table=table,
        X=risk_design_matrix(table, settings.risk),
        scores=scores,
        true_net=true_net,
        true_fractions=true_fractions,
        true_uplift=true_uplift,
        eligible=reference.guard.eligible,
        allowed=allowed,
        bau=bau,
        oracle=oracle,
        valuation_gap=gap,
    )


def _true_value(fresh: Fresh, chosen: npt.ArrayLike) -> float:
    """Mean true discounted net recovery per loan of the arms ``chosen``."""
    positions = pd.Index(fresh.true_net.columns).get_indexer(pd.Index(np.asarray(chosen)))
    if (positions < 0).any():
        raise ValueError("a chosen arm has no true value column")
    values = fresh.true_net.to_numpy(dtype=np.float64)
    return float(values[np.arange(len(values)), positions].mean())


# --- candidates ---------------------------------------------------------------------------
def _fit_candidate(name: str, history: History, settings: Settings, seed: int) -> FractionModel:
    outcomes = settings.strategy.outcomes
    if name in LEARNERS:
        return OutcomeModel(learner=name, settings=outcomes, random_state=seed).fit(
            history.X, history.actions, history.fraction, history.propensity
        )
    learner_name, _, nuisance = name.partition("@")
    if learner_name in UPLIFT_VARIANTS and (not nuisance or nuisance in LEARNERS):
        kind, _, variant = learner_name.partition("-")
        effect = EffectParams(from_plug_in=variant != "const", recentre=variant != "plugin")
        learner = make_uplift_learner(
            kind, outcomes, nuisance=nuisance or "t-pooled", effect=effect, random_state=seed
        )
        eligible = (
            ActionCatalogue.from_settings(settings).eligibility(history.table)
            if variant == "elig"
            else None
        )
        return learner.fit(
            history.X, history.actions, history.fraction, history.propensity, eligible=eligible
        )
    if name == ECONML:
        return EconmlDR(settings, seed).fit(history)
    raise SystemExit(f"unknown learner {name!r}")


class _KnownPropensity(BaseEstimator):  # type: ignore[misc]
    """econml "classifier" that returns the logged propensity of the taken arm.

    The last two columns of econml's X|W matrix are W = (taken arm's code, its recorded
    propensity). econml's DR pseudo-outcome reads only the taken arm's column, so the
    others are set to 1 (never read).
    """

    def __init__(self, n_arms: int = len(schema.ARM_NAMES)) -> None:
        self.n_arms = n_arms

    def fit(self, xw: FloatArray, arms: Any, **_: Any) -> _KnownPropensity:
        self.classes_ = np.arange(self.n_arms)
        return self

    def predict_proba(self, xw: FloatArray) -> FloatArray:
        codes = xw[:, -2].astype(np.int64)
        probabilities = np.ones((xw.shape[0], self.n_arms))
        probabilities[np.arange(xw.shape[0]), codes] = xw[:, -1]
        return probabilities


class _WithoutW(BaseEstimator):  # type: ignore[misc]
    """An econml regression model that drops W's two columns from [X, W, T one-hot]."""

    def __init__(self, n_features: int = 0, model: Any = None) -> None:
        self.n_features = n_features
        self.model = model

    def _strip(self, xwt: FloatArray) -> FloatArray:
        keep = np.r_[0 : self.n_features, self.n_features + 2 : xwt.shape[1]]
        return xwt[:, keep]

    def fit(self, xwt: FloatArray, y: FloatArray, **kwargs: Any) -> _WithoutW:
        from sklearn.base import clone

        self.model_ = clone(self.model).fit(self._strip(xwt), y, **kwargs)
        return self

    def predict(self, xwt: FloatArray) -> FloatArray:
        return np.asarray(self.model_.predict(self._strip(xwt)), dtype=np.float64)


class EconmlDR:
    """econml's DRLearner with known propensities, wrapped to predict fractions."""

    def __init__(self, settings: Settings, seed: int) -> None:
        self.settings = settings
        self.seed = seed

    def fit(self, history: History) -> EconmlDR:
        from econml.dr import DRLearner  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from xgboost import XGBRegressor

        outcomes = self.settings.strategy.outcomes
        arms = list(schema.ARM_NAMES)
        X = history.X.to_numpy(dtype=np.float64)
        codes = pd.Index(arms).get_indexer(pd.Index(history.actions)).astype(np.float64)
        logged = np.column_stack([codes, history.propensity])
        regression = XGBRegressor(
            objective="reg:logistic",
            n_estimators=250,
            learning_rate=outcomes.learning_rate,
            max_depth=outcomes.max_depth,
            min_child_weight=outcomes.min_child_weight,
            subsample=outcomes.subsample,
            tree_method="hist",
            n_jobs=1,
            random_state=self.seed,
        )
        final = XGBRegressor(
            objective="reg:squarederror",
            n_estimators=100,
            learning_rate=0.05,
            max_depth=3,
            min_child_weight=100,
            reg_lambda=10.0,
            subsample=0.8,
            tree_method="hist",
            n_jobs=1,
            random_state=self.seed,
        )
        self.n_features = X.shape[1]
        self.model = DRLearner(
            model_propensity=_KnownPropensity(len(arms)),
            model_regression=_WithoutW(X.shape[1], regression),
            model_final=final,
            min_propensity=1.0 / outcomes.max_inverse_propensity,
            categories=arms,
            cv=3,
            random_state=self.seed,
        )
        self.model.fit(history.fraction, np.asarray(history.actions, dtype=object), X=X, W=logged)
        return self

    def predict_fractions(self, frame: pd.DataFrame) -> pd.DataFrame:
        arms = list(schema.ARM_NAMES)
        X = frame.to_numpy(dtype=np.float64)
        n = X.shape[0]
        held = np.hstack([X, np.zeros((n, 2)), np.zeros((n, len(arms) - 1))])
        fitted = [model for group in self.model.models_regression for model in group]
        hold = np.mean([np.asarray(model.predict(held)) for model in fitted], axis=0)
        result = {schema.HOLD: hold}
        for arm in arms[1:]:
            effect = np.asarray(self.model.effect(X, T0=schema.HOLD, T1=arm)).reshape(-1)
            result[arm] = hold + effect
        return pd.DataFrame(result, index=frame.index)[arms].clip(0.0, 1.0)


# --- evaluation ---------------------------------------------------------------------------
def _evaluate(
    name: str, model: FractionModel, fresh: Fresh, settings: Settings, seconds: float
) -> Result:
    fractions = model.predict_fractions(fresh.X).set_axis(fresh.table.index)
    inputs: ActionValues = value_actions(fresh.table, fresh.scores, fractions, settings)
    scores: dict[str, float] = {}
    for action in fresh.true_uplift.columns:
        rows = fresh.eligible[action].to_numpy(dtype=np.bool_)
        scores[str(action)] = auuc(
            inputs.uplift[action].to_numpy()[rows], fresh.true_uplift[action].to_numpy()[rows]
        )
    chosen = best_allowed(inputs.uplift, inputs.candidates).to_numpy(dtype=np.str_)
    effect_rmse, hold_rmse = _fraction_errors(fractions, fresh)
    return Result(
        name,
        seconds,
        scores,
        _true_value(fresh, chosen),
        effect_rmse,
        hold_rmse,
        _forbidden(fresh, chosen),
    )


def _fraction_errors(fractions: pd.DataFrame, fresh: Fresh) -> tuple[float, float]:
    """RMSE of the predicted effect over hold (eligible loans, pooled over actions) and of
    the hold fraction, both in fraction units: the accuracy behind the rankings."""
    truth = fresh.true_fractions
    hold_error = fractions[schema.HOLD].to_numpy() - truth[schema.HOLD].to_numpy()
    squares: list[FloatArray] = []
    for action in fresh.true_uplift.columns:
        rows = fresh.eligible[action].to_numpy(dtype=np.bool_)
        predicted = (fractions[action] - fractions[schema.HOLD]).to_numpy()[rows]
        true = (truth[action] - truth[schema.HOLD]).to_numpy()[rows]
        squares.append((predicted - true) ** 2)
    return float(np.sqrt(np.concatenate(squares).mean())), float(np.sqrt(np.mean(hold_error**2)))


def _forbidden(fresh: Fresh, chosen: npt.NDArray[np.str_]) -> int:
    """Loans given an action the guardrails forbid when they read the true fractions.

    Only the settlement floor reads fractions, so these are settlements a model expected
    to clear the floor that truly do not.
    """
    columns = pd.Index(fresh.allowed.columns)
    positions = columns.get_indexer(pd.Index(chosen))
    acted = positions >= 0
    mask = fresh.allowed.to_numpy(dtype=np.bool_)
    ok = mask[np.flatnonzero(acted), positions[acted]]
    return int((~ok).sum())


def _row(
    label: str, result: Result, reference: dict[str, float], arms: list[str]
) -> tuple[str, ...]:
    bau, oracle = reference["bau"], reference["oracle"]
    span = oracle - bau
    capture = (result.value - bau) / span if span > 0 else float("nan")
    return (
        label,
        f"{result.fit_seconds:.1f}",
        f"{np.nanmean(list(result.auuc.values())):.3f}",
        *(f"{result.auuc[arm]:.3f}" for arm in arms),
        f"{result.value:,.0f}",
        f"{result.value - bau:+,.0f}",
        f"{100.0 * (result.value - bau) / abs(bau):+.2f}%",
        f"{100.0 * capture:.1f}%",
        str(result.forbidden),
        f"{result.effect_rmse:.4f}",
        f"{result.hold_rmse:.4f}",
    )


def _table(results: list[Result], reference: dict[str, float], arms: list[str]) -> None:
    header = (
        "learner",
        "fit s",
        "AUUC",
        *arms,
        "value/loan",
        "vs BAU",
        "vs BAU %",
        "capture",
        "forbidden",
        "tau RMSE",
        "hold RMSE",
    )
    rows = [header]
    bau, oracle = reference["bau"], reference["oracle"]
    for label, value in (("[bau]", bau), ("[oracle]", oracle), ("[all hold]", reference["hold"])):
        capture = (value - bau) / (oracle - bau) if oracle > bau else float("nan")
        rows.append(
            (
                label,
                "",
                "",
                *("" for _ in arms),
                f"{value:,.0f}",
                f"{value - bau:+,.0f}",
                f"{100.0 * (value - bau) / abs(bau):+.2f}%",
                f"{100.0 * capture:.1f}%",
                "",
                "",
                "",
            )
        )
    rows.extend(_row(result.learner, result, reference, arms) for result in results)
    bench_support.print_table(rows)


def _mean_result(name: str, results: list[Result]) -> Result:
    arms = list(results[0].auuc)
    return Result(
        learner=name,
        fit_seconds=float(np.mean([r.fit_seconds for r in results])),
        auuc={arm: float(np.mean([r.auuc[arm] for r in results])) for arm in arms},
        value=float(np.mean([r.value for r in results])),
        effect_rmse=float(np.mean([r.effect_rmse for r in results])),
        hold_rmse=float(np.mean([r.hold_rmse for r in results])),
        forbidden=int(np.sum([r.forbidden for r in results])),
    )


def _timed(call: Callable[[], FractionModel]) -> tuple[FractionModel, float]:
    start = time.perf_counter()
    model = call()
    return model, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    arguments = _parse_arguments(argv)
    seeds = [int(seed) for seed in arguments.seeds.split(",") if seed.strip()]
    learners = [name.strip() for name in arguments.learners.split(",") if name.strip()]
    if ECONML in learners:
        try:
            import econml  # type: ignore[import-untyped, import-not-found, unused-ignore] # noqa: F401
        except ImportError:
            print(f"econml is not installed: skipping {ECONML}")
            learners.remove(ECONML)
    settings = load_settings()
    print(
        f"uplift learners: {arguments.loans:,} history loans, {arguments.fresh_loans:,} fresh "
        f"loans, seeds {seeds}, {bench_support.cores()} cores, {bench_support.machine_load()}"
    )
    by_learner: dict[str, list[Result]] = {name: [] for name in learners}
    references: list[dict[str, float]] = []
    arms: list[str] = []
    for seed in seeds:
        history = _history(settings, arguments.loans, seed)
        fresh = _fresh(settings, arguments.fresh_loans, seed + FRESH_SEED_OFFSET)
        arms = [str(column) for column in fresh.true_uplift.columns]
        reference = {
            "bau": _true_value(fresh, fresh.bau),
            "oracle": _true_value(fresh, fresh.oracle),
            "hold": _true_value(fresh, np.full(len(fresh.table), schema.HOLD)),
        }
        references.append(reference)
        results: list[Result] = []
        for name in learners:
            model, seconds = _timed(partial(_fit_candidate, name, history, settings, seed))
            result = _evaluate(name, model, fresh, settings, seconds)
            results.append(result)
            by_learner[name].append(result)
            print(f"  seed {seed}: {name} fitted in {seconds:.1f} s", flush=True)
        print(
            f"\nseed {seed} (history {len(history.table):,} rows, fresh {len(fresh.table):,} "
            f"rows from seed {seed + FRESH_SEED_OFFSET}; valuation check: max |value_actions"
            f"(true fractions) - truth| = {fresh.valuation_gap:.3g} INR)"
        )
        _table(results, reference, arms)
        print()
    if len(seeds) > 1:
        mean_reference = {
            key: float(np.mean([r[key] for r in references])) for key in references[0]
        }
        print(f"mean over seeds {seeds}")
        _table([_mean_result(name, by_learner[name]) for name in learners], mean_reference, arms)


if __name__ == "__main__":
    main()
