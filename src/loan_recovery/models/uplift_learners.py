"""Uplift learners: each arm's *effect* over leaving the loan alone, not its level.

Why these exist next to :class:`~loan_recovery.models.outcomes.OutcomeModel`:

* The plan decides on uplift, value(action) - value(hold). An outcome model that learns
  each arm's *level* spends its trees on what every arm shares (a current, able borrower
  pays whatever we do) and leaves the difference between two arms as the difference of
  two noisy fits. The learners here aim their last stage at the difference itself, the
  conditional effect tau_a(x) = E[fraction | a, x] - E[fraction | hold, x], and return
  mu_0(x) + tau_a(x) clipped to [0, 1], so they plug into the plan unchanged (same
  ``predict_fractions`` frame as the outcome model: one column per arm, hold included).
* ``DRLearner`` (doubly robust, Kennedy 2020; econml's ``DRLearner``). Nuisance outcome
  models mu_a(x) (an :class:`OutcomeModel`, ``t-pooled`` by default) are *cross-fitted*
  over :data:`CROSS_FIT_FOLDS` folds, so no row's pseudo-outcome uses a model that saw
  it (in-sample fits would shrink the residual corrections towards 0). The pseudo-outcome
  of arm a,
  ``psi_a = mu_a - mu_0 + 1[A=a] w (Y - mu_a) - 1[A=hold] w (Y - mu_0)`` with
  ``w = min(1 / p, max_inverse_propensity)``, has conditional mean tau_a(x) when either
  the outcome models or the propensities are right. The propensities are the *logged*
  ones: only the taken arm's enters psi, and the lender recorded exactly that one. A
  small, strongly regularised booster (squared error, early-stopped on held-out
  pseudo-outcomes, a valid loss for tau up to a constant) regresses psi_a on X per arm,
  starting from the plug-in effect mu_a - mu_0 shifted so that its mean is the mean of
  psi_a (the AIPW average effect; ``EffectParams.recentre``).
* ``XLearner`` (Kunzel et al. 2019; causalml's ``BaseXRegressor``). Per arm against
  hold, imputed effects: on rows that took the arm ``Y - mu_0(x)``, on rows left alone
  ``mu_a(x) - Y``; one booster per group, combined as ``g tau_0 + (1 - g) tau_1`` with
  g(x) = P(arm | x, arm or hold), so each loan leans on the group whose model was fitted
  on more loans like it. g must exist for loans never logged, and the log records only
  the taken arm's propensity, so g is a classifier on the rows of the two groups.
* The mu's of both learners are the same cross-fitted outcome models. At scoring time
  mu_0 and the plug-in effect come from the same outcome model fitted on every row (it
  sees half again as much data as a fold model, and the hold level enters the money:
  recovery shares and discounting differ by arm). By default the effect boosters start
  from that plug-in effect (``EffectParams.from_plug_in``): where the effect signal is
  too noisy to grow a tree, the X-learner predicts what ``OutcomeModel(nuisance)``
  predicts and the DR learner the same with each arm's level set by its AIPW average.
* An arm the history barely tried cannot be learned (support is measured as in
  :func:`~loan_recovery.models.outcomes.support_table`); it keeps the plug-in effect
  mu_a - mu_0 of the outcome models, whose mu_a is then the conservative prior.
* ``eligible`` (optional, per arm) limits each arm's effect stage to the loans the
  catalogue allows it: elsewhere the arm is never logged, its pseudo-outcomes are pure
  extrapolation, and the plan's guardrails remove it anyway.
* Every booster trains on one thread and the work runs in parallel over folds and arms
  (:func:`~loan_recovery.models.outcomes._parallel`), seeded, so fits are reproducible
  and independent of the core count.

Measured on the simulator (``benchmarks/bench_uplift_learners.py``, 50,000 logged loans,
seeds 101-103): the effect stages stop after a few to a few dozen rounds, because with
an effective sample of ~1,600-2,300 explored rows per arm the pseudo-outcomes are mostly
noise; the nuisance learner matters more than the effect stage. ``x`` on ``s-ipw``
outcome models gave the best greedy policy on every seed (39.5% of the oracle's gain
over BAU against 35.2% for the plan's ``t-pooled``), ``dr`` on ``t-pooled`` 35.8%; no
uplift learner ranked the true uplift better than plain ``s-ipw`` (AUUC 0.896).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.utils.validation import check_is_fitted

from loan_recovery.config import OutcomeSettings
from loan_recovery.data import schema
from loan_recovery.exceptions import ModelError, TrainingDataError
from loan_recovery.models.boosting import named
from loan_recovery.models.outcomes import (
    LEARNERS,
    MIN_TRAINING_ROWS,
    SUPPORT_LOW,
    Learner,
    OutcomeModel,
    _action_codes,
    _check_catalogue,
    _check_features,
    _check_fraction,
    _check_propensity,
    _parallel,
    _scoring_values,
    inverse_propensity_weights,
    support_table,
)

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

UpliftLearnerName = Literal["dr", "x"]
#: The uplift learners of this module, by the name a benchmark or a setting would use.
UPLIFT_LEARNERS: tuple[UpliftLearnerName, ...] = ("dr", "x")
#: Folds of the cross-fitted outcome models: every row's mu comes from a model fitted on
#: the other two thirds, which keeps two thirds of the data per fit.
CROSS_FIT_FOLDS = 3


@dataclass(frozen=True)
class EffectParams:
    """The effect-stage boosters: shallow and strongly regularised.

    Pseudo-outcomes and imputed effects are differences of noisy numbers (a DR
    pseudo-outcome swings by up to ``max_inverse_propensity`` where the weight is large),
    while the effects themselves are a few points of the fraction. Shallow trees, big
    leaves (``min_child_weight`` counts rows under squared error) and an L2 penalty on
    leaf values keep the last stage from fitting that noise; early stopping on a
    held-out share picks how many rounds the signal supports.
    """

    n_estimators: int = 300
    learning_rate: float = 0.05
    max_depth: int = 3
    min_child_weight: float = 100.0
    reg_lambda: float = 10.0
    subsample: float = 0.8
    early_stopping_rounds: int = 30
    validation_fraction: float = 0.2
    #: Boost from the outcome models' plug-in effect mu_a - mu_0 instead of a constant:
    #: where the effect signal is too noisy to grow trees, the answer stays the outcome
    #: models' (the ``t-pooled`` idea one stage later) rather than one number per arm.
    from_plug_in: bool = True
    #: DR only, with ``from_plug_in``: shift each arm's plug-in so that its mean over the
    #: arm's rows is the mean pseudo-outcome, the doubly robust (AIPW) estimate of the
    #: average effect. The average is the one number the history pins down well (a mean
    #: over every row, unbiased when the outcome models are not), while early-stopped
    #: trees on noisy pseudo-outcomes recover only part of a level error: from outcome
    #: models cut to a constant (plug-in 0.28 against a true 0.10) the trees alone
    #: reached 0.12-0.15, re-centred 0.10-0.12. The trees then learn only the shape.
    recentre: bool = True


def _check_nuisance(nuisance: object) -> Learner:
    for known in LEARNERS:
        if nuisance == known:
            return known
    raise ModelError(f"nuisance must be one of {list(LEARNERS)}; got {nuisance!r}.")


def _check_folds(folds: object) -> int:
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ModelError(f"folds must be an integer >= 2; got {folds!r}.")
    return folds


def _eligibility(
    eligible: pd.DataFrame | None, catalogue: tuple[str, ...], index: pd.Index
) -> BoolArray:
    """n x arms mask of the loans each arm may be given; arms not in ``eligible``: all."""
    mask = np.ones((len(index), len(catalogue)), dtype=np.bool_)
    if eligible is None:
        return mask
    if not isinstance(eligible, pd.DataFrame) or len(eligible) != len(index):
        raise TrainingDataError(
            f"eligible must be a DataFrame with one row per row of X ({len(index)}); got "
            f"{type(eligible).__name__} of {len(eligible)} rows."
        )
    unknown = [str(column) for column in eligible.columns if column not in catalogue]
    if unknown:
        raise TrainingDataError(f"eligible names arms outside {list(catalogue)}: {unknown}.")
    for column, arm in enumerate(catalogue):
        if arm in eligible.columns:
            mask[:, column] = eligible[arm].to_numpy(dtype=np.bool_)
    return mask


def _boost(
    values: Float32Array,
    target: FloatArray,
    names: list[str],
    params: dict[str, Any],
    rounds: int,
    early_stopping_rounds: int,
    validation_fraction: float,
    random_state: int,
    base_margin: FloatArray | None = None,
) -> tuple[xgb.Booster, int]:
    """One early-stopped, one-thread booster, cut to its best iteration.

    ``base_margin`` (per row) makes the trees boost from it; scoring must pass it too.
    """
    fit_rows, valid_rows = train_test_split(
        np.arange(target.shape[0]), test_size=validation_fraction, random_state=random_state
    )
    train = xgb.QuantileDMatrix(
        values[fit_rows],
        target[fit_rows],
        base_margin=None if base_margin is None else base_margin[fit_rows],
        nthread=1,
    )
    valid = xgb.QuantileDMatrix(
        values[valid_rows],
        target[valid_rows],
        base_margin=None if base_margin is None else base_margin[valid_rows],
        ref=train,
        nthread=1,
    )
    booster = xgb.train(
        {**params, "tree_method": "hist", "seed": random_state, "nthread": 1, "verbosity": 0},
        train,
        num_boost_round=rounds,
        evals=[(valid, "validation")],
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(booster.best_iteration)
    trimmed = named(booster[: best + 1], names)
    trimmed.set_param({"nthread": 1})
    return trimmed, best


def _train_effect(
    values: Float32Array,
    target: FloatArray,
    names: list[str],
    params: EffectParams,
    random_state: int,
    plug_in: FloatArray,
) -> tuple[xgb.Booster, int]:
    """Regress an effect signal (pseudo-outcome or imputed effect) on X: squared error.

    ``plug_in`` is the outcome models' effect on these rows; with
    ``params.from_plug_in`` the trees boost from it, else from the signal's mean.
    """
    return _boost(
        values,
        target,
        names,
        {
            "objective": "reg:squarederror",
            "eval_metric": "rmse",
            "learning_rate": params.learning_rate,
            "max_depth": params.max_depth,
            "min_child_weight": params.min_child_weight,
            "reg_lambda": params.reg_lambda,
            "subsample": params.subsample,
            "base_score": float(np.mean(target)),
        },
        params.n_estimators,
        params.early_stopping_rounds,
        params.validation_fraction,
        random_state,
        base_margin=plug_in if params.from_plug_in else None,
    )


def _train_share(
    values: Float32Array,
    label: FloatArray,
    names: list[str],
    settings: OutcomeSettings,
    random_state: int,
) -> tuple[xgb.Booster, int]:
    """P(arm | x, arm or hold): the X-learner's weight, with the outcome trees' sizes."""
    return _boost(
        values,
        label,
        names,
        {
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "learning_rate": settings.learning_rate,
            "max_depth": settings.max_depth,
            "min_child_weight": settings.min_child_weight,
            "subsample": settings.subsample,
        },
        settings.n_estimators,
        settings.early_stopping_rounds,
        settings.validation_fraction,
        random_state,
    )


def _fold_rows(codes: IntArray, folds: int, random_state: int) -> list[IntArray]:
    """Row indices of each scoring fold; stratified by arm when every arm can be split."""
    counts = np.bincount(codes)
    positions = np.arange(codes.shape[0])
    if int(counts[counts > 0].min()) >= folds:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=random_state)
        return [scored for _, scored in splitter.split(positions, codes)]
    plain = KFold(folds, shuffle=True, random_state=random_state)
    return [scored for _, scored in plain.split(positions)]


class _CrossFit:
    """Out-of-fold mu for every row, and the outcome model fitted on every row.

    The fold models only serve the effect stage's targets and are dropped; scoring reads
    the full-data model (same seed as a plain :class:`OutcomeModel`), which sees half
    again as many rows as a fold model: averaging the folds instead was measured worse
    for the hold level (RMSE 0.134 against 0.125 with ``t-pooled`` on 20,000 loans).
    """

    def __init__(
        self,
        X: pd.DataFrame,
        codes: IntArray,
        fraction: FloatArray,
        propensity: FloatArray,
        *,
        nuisance: Learner,
        settings: OutcomeSettings,
        catalogue: tuple[str, ...],
        folds: int,
        random_state: int,
    ) -> None:
        scored = _fold_rows(codes, folds, random_state)
        actions = np.asarray(catalogue, dtype=object)[codes]
        everything = np.arange(codes.shape[0])

        def fit_fold(fold: int) -> OutcomeModel:
            full = fold == folds
            fit_rows = everything if full else np.setdiff1d(everything, scored[fold])
            model = OutcomeModel(
                learner=nuisance,
                settings=settings,
                actions=catalogue,
                random_state=random_state if full else random_state + 1 + fold,
            )
            return model.fit(
                X.iloc[fit_rows], actions[fit_rows], fraction[fit_rows], propensity[fit_rows]
            )

        *fold_models, self.model = _parallel(fit_fold, list(range(folds + 1)))
        self.out_of_fold = np.empty((codes.shape[0], len(catalogue)), dtype=np.float64)
        for model, rows in zip(fold_models, scored, strict=True):
            self.out_of_fold[rows] = model.predict_fractions(X.iloc[rows]).to_numpy(np.float64)


@dataclass(frozen=True)
class _Stage:
    """What an effect stage learns from: the checked history plus out-of-fold mu's."""

    values: Float32Array
    names: list[str]
    codes: IntArray
    target: FloatArray
    weights: FloatArray  # clipped inverse propensities of the taken arm
    mu: FloatArray  # n x arms, cross-fitted
    eligible: BoolArray  # n x arms
    hold: int  # hold's column


class _UpliftLearner(BaseEstimator):  # type: ignore[misc]
    """What both learners share: input checks, cross-fitting, support, scoring.

    Fitted attributes: ``support_`` (as :class:`OutcomeModel`'s, from the full history),
    ``outcome_model_`` (the nuisance :class:`OutcomeModel` fitted on every row: it gives
    mu_0 and the plug-in effects at scoring time), ``effect_boosters_`` (booster key ->
    booster; the keys are the subclass's), ``best_iterations_``, ``modelled_`` (arms
    with a learned effect; the others keep the plug-in mu_a - mu_0), ``average_effect_``
    (per arm, the mean effect on the history's loans), ``actions_``,
    ``feature_names_in_`` and ``n_features_in_``.
    """

    def __init__(
        self,
        settings: OutcomeSettings | None = None,
        actions: Sequence[str] = schema.ARM_NAMES,
        nuisance: str = "t-pooled",
        folds: int = CROSS_FIT_FOLDS,
        effect: EffectParams | None = None,
        random_state: int = 0,
    ) -> None:
        self.settings = settings
        self.actions = actions
        self.nuisance = nuisance
        self.folds = folds
        self.effect = effect
        self.random_state = random_state

    def _settings(self) -> OutcomeSettings:
        return self.settings if self.settings is not None else OutcomeSettings()

    def _effect_params(self) -> EffectParams:
        return self.effect if self.effect is not None else EffectParams()

    def fit(
        self,
        X: pd.DataFrame,
        actions_taken: npt.ArrayLike,
        fraction: npt.ArrayLike,
        propensity: npt.ArrayLike,
        *,
        eligible: pd.DataFrame | None = None,
    ) -> _UpliftLearner:
        """Learn mu_0 and every arm's effect over hold from a logged history.

        ``actions_taken``, ``fraction`` and ``propensity`` are as for
        :meth:`OutcomeModel.fit`, except that the propensity is required: both learners
        need the logging policy's probability of the taken arm (estimate it with
        :func:`~loan_recovery.models.outcomes.estimate_propensities` when the lender did
        not record it). ``eligible`` (rows as X, one boolean column per arm; absent
        arms count as eligible everywhere) limits each arm's effect stage to the loans it
        may be given.
        """
        settings = self._settings()
        nuisance = _check_nuisance(self.nuisance)
        folds = _check_folds(self.folds)
        catalogue = _check_catalogue(self.actions)
        if schema.HOLD not in catalogue:
            raise ModelError(
                f"an uplift learner measures effects over {schema.HOLD!r}, which the actions "
                f"{list(catalogue)} lack."
            )
        values, names = _check_features(X)
        n_rows = values.shape[0]
        codes = _action_codes(actions_taken, catalogue, n_rows)
        target = _check_fraction(fraction, n_rows)
        taken = _check_propensity(propensity, n_rows)
        mask = _eligibility(eligible, catalogue, X.index)
        weights = inverse_propensity_weights(taken, settings.max_inverse_propensity)
        support = support_table(
            np.asarray(catalogue, dtype=object)[codes],
            target,
            weights,
            catalogue,
            settings.min_effective_sample_size,
        )
        cross = _CrossFit(
            X,
            codes,
            target,
            taken,
            nuisance=nuisance,
            settings=settings,
            catalogue=catalogue,
            folds=folds,
            random_state=self.random_state,
        )
        hold = catalogue.index(schema.HOLD)
        low = support[SUPPORT_LOW].to_numpy(dtype=np.bool_)
        # An arm gets an effect stage when it and hold are supported and enough loans
        # may be given it; the rest keep the plug-in effect of the outcome models.
        modelled = tuple(
            arm
            for index, arm in enumerate(catalogue)
            if index != hold
            and not (low[index] or low[hold])
            and int(mask[:, index].sum()) >= MIN_TRAINING_ROWS
        )
        self.actions_ = catalogue
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.support_ = support
        self.outcome_model_ = cross.model
        self.modelled_ = modelled
        boosters, best = self._fit_effects(
            _Stage(values, list(names), codes, target, weights, cross.out_of_fold, mask, hold)
        )
        self.effect_boosters_ = boosters
        self.best_iterations_ = best
        effects = self._effects(values, cross.out_of_fold)
        self.average_effect_ = pd.Series(
            effects.mean(axis=0), index=list(catalogue), name="average_effect"
        )
        return self

    # --- the subclass's part -------------------------------------------------------------
    def _fit_effects(self, stage: _Stage) -> tuple[dict[str, xgb.Booster], dict[str, int]]:
        raise NotImplementedError

    def _learned_effect(self, values: Float32Array, arm: str, plug_in: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _predict_effect(
        self, key: str, values: Float32Array, plug_in: FloatArray, shift: float = 0.0
    ) -> FloatArray:
        """One effect booster's scores, from the (shifted) plug-in when trained from it."""
        margin = plug_in + shift if self._effect_params().from_plug_in else None
        booster = self.effect_boosters_[key]
        return np.asarray(booster.inplace_predict(values, base_margin=margin), dtype=np.float64)

    # --- scoring -------------------------------------------------------------------------
    def _effects(self, values: Float32Array, mu: FloatArray) -> FloatArray:
        """n x arms effects over hold (hold's column 0): learned, else mu_a - mu_0."""
        catalogue = self.actions_
        hold = catalogue.index(schema.HOLD)
        effects = mu - mu[:, [hold]]
        plug_in = effects.copy()
        columns = {arm: catalogue.index(arm) for arm in self.modelled_}
        learned = _parallel(
            lambda arm: self._learned_effect(values, arm, plug_in[:, columns[arm]]),
            list(self.modelled_),
        )
        for arm, effect in zip(self.modelled_, learned, strict=True):
            effects[:, catalogue.index(arm)] = effect
        effects[:, hold] = 0.0
        return effects

    def predict_effects(self, X: pd.DataFrame) -> pd.DataFrame:
        """Effect of every arm on the recovered fraction over hold (hold's column is 0)."""
        check_is_fitted(self, "effect_boosters_")
        values = _scoring_values(X, [str(name) for name in self.feature_names_in_])
        mu = self.outcome_model_.predict_fractions(X).to_numpy(dtype=np.float64)
        return pd.DataFrame(self._effects(values, mu), index=X.index, columns=list(self.actions_))

    def predict_fractions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Expected recovered fraction per loan and arm: mu_0 + tau_a, clipped to [0, 1].

        The same frame as :meth:`OutcomeModel.predict_fractions` (rows X's index,
        columns the arms, hold included), so the plan values it unchanged.
        """
        check_is_fitted(self, "effect_boosters_")
        values = _scoring_values(X, [str(name) for name in self.feature_names_in_])
        mu = self.outcome_model_.predict_fractions(X).to_numpy(dtype=np.float64)
        hold = self.actions_.index(schema.HOLD)
        fractions = np.clip(mu[:, [hold]] + self._effects(values, mu), 0.0, 1.0)
        return pd.DataFrame(fractions, index=X.index, columns=list(self.actions_))


class DRLearner(_UpliftLearner):
    """Doubly robust learner: per arm, a regularised regression of the DR pseudo-outcome.

    See the module docstring. ``effect_boosters_`` is keyed by arm; ``plug_in_shift_``
    holds each modelled arm's shift of the plug-in (:attr:`EffectParams.recentre`; 0 when
    off).
    """

    def _pseudo_outcomes(self, stage: _Stage, arm: int) -> FloatArray:
        """psi_a per row (see the module docstring); hold's terms use hold's weight."""
        took_arm = stage.codes == arm
        took_hold = stage.codes == stage.hold
        mu_arm, mu_hold = stage.mu[:, arm], stage.mu[:, stage.hold]
        psi: FloatArray = (
            mu_arm
            - mu_hold
            + np.where(took_arm, stage.weights * (stage.target - mu_arm), 0.0)
            - np.where(took_hold, stage.weights * (stage.target - mu_hold), 0.0)
        )
        return psi

    def _fit_effects(self, stage: _Stage) -> tuple[dict[str, xgb.Booster], dict[str, int]]:
        catalogue = self.actions_
        params = self._effect_params()

        shifts: dict[str, float] = {}
        for arm in self.modelled_:
            column = catalogue.index(arm)
            rows = stage.eligible[:, column]
            psi = self._pseudo_outcomes(stage, column)[rows]
            plug_in = stage.mu[rows, column] - stage.mu[rows, stage.hold]
            centred = params.recentre and params.from_plug_in
            shifts[arm] = float(psi.mean() - plug_in.mean()) if centred else 0.0
        self.plug_in_shift_ = shifts

        def fit_arm(arm: str) -> tuple[xgb.Booster, int]:
            column = catalogue.index(arm)
            rows = stage.eligible[:, column]
            psi = self._pseudo_outcomes(stage, column)
            plug_in = stage.mu[rows, column] - stage.mu[rows, stage.hold]
            return _train_effect(
                stage.values[rows],
                psi[rows],
                stage.names,
                params,
                self.random_state + column,
                plug_in + shifts[arm],
            )

        fitted = _parallel(fit_arm, list(self.modelled_))
        boosters = {arm: booster for arm, (booster, _) in zip(self.modelled_, fitted, strict=True)}
        best = {arm: best for arm, (_, best) in zip(self.modelled_, fitted, strict=True)}
        return boosters, best

    def _learned_effect(self, values: Float32Array, arm: str, plug_in: FloatArray) -> FloatArray:
        return self._predict_effect(arm, values, plug_in, self.plug_in_shift_[arm])


#: X-learner booster keys per arm: effect on the arm's rows, on hold's rows, and the share.
X_TREATED, X_CONTROL, X_SHARE = "treated", "control", "share"


def x_booster_key(arm: str, part: str) -> str:
    """Key of one of an arm's three X-learner boosters in ``effect_boosters_``."""
    return f"{arm}:{part}"


class XLearner(_UpliftLearner):
    """X-learner: imputed effects per group, blended by the propensity of the arm.

    See the module docstring. ``effect_boosters_`` holds three boosters per modelled arm,
    keyed by :func:`x_booster_key` with :data:`X_TREATED`, :data:`X_CONTROL` and
    :data:`X_SHARE`. An arm whose rows or hold's rows (among the eligible) are fewer
    than :data:`~loan_recovery.models.outcomes.MIN_TRAINING_ROWS` keeps the plug-in effect.
    """

    def _fit_effects(self, stage: _Stage) -> tuple[dict[str, xgb.Booster], dict[str, int]]:
        catalogue = self.actions_
        params, settings = self._effect_params(), self._settings()
        groups: dict[str, tuple[IntArray, IntArray]] = {}
        for arm in self.modelled_:
            column = catalogue.index(arm)
            rows = stage.eligible[:, column]
            treated = np.flatnonzero(rows & (stage.codes == column))
            control = np.flatnonzero(rows & (stage.codes == stage.hold))
            if min(treated.size, control.size) >= MIN_TRAINING_ROWS:
                groups[arm] = (treated, control)
        self.modelled_ = tuple(groups)
        jobs = [(arm, part) for arm in groups for part in (X_TREATED, X_CONTROL, X_SHARE)]

        def fit_part(job: tuple[str, str]) -> tuple[xgb.Booster, int]:
            arm, part = job
            column = catalogue.index(arm)
            treated, control = groups[arm]
            seed = self.random_state + column
            plug_in = stage.mu[:, column] - stage.mu[:, stage.hold]
            if part == X_TREATED:
                imputed = stage.target[treated] - stage.mu[treated, stage.hold]
                return _train_effect(
                    stage.values[treated], imputed, stage.names, params, seed, plug_in[treated]
                )
            if part == X_CONTROL:
                imputed = stage.mu[control, column] - stage.target[control]
                return _train_effect(
                    stage.values[control], imputed, stage.names, params, seed, plug_in[control]
                )
            both = np.concatenate([treated, control])
            label = np.r_[np.ones(treated.size), np.zeros(control.size)]
            return _train_share(stage.values[both], label, stage.names, settings, seed)

        fitted = _parallel(fit_part, jobs)
        keys = [x_booster_key(arm, part) for arm, part in jobs]
        boosters = {key: booster for key, (booster, _) in zip(keys, fitted, strict=True)}
        best = {key: best for key, (_, best) in zip(keys, fitted, strict=True)}
        return boosters, best

    def _learned_effect(self, values: Float32Array, arm: str, plug_in: FloatArray) -> FloatArray:
        on_treated = self._predict_effect(x_booster_key(arm, X_TREATED), values, plug_in)
        on_control = self._predict_effect(x_booster_key(arm, X_CONTROL), values, plug_in)
        share = np.asarray(
            self.effect_boosters_[x_booster_key(arm, X_SHARE)].inplace_predict(values),
            dtype=np.float64,
        )
        # Where the arm was likely (share near 1) the control group is thin there, so the
        # effect imputed on control rows (mu_a fitted on many such loans) gets the weight.
        blended: FloatArray = share * on_control + (1.0 - share) * on_treated
        return blended


def make_uplift_learner(
    name: str,
    settings: OutcomeSettings | None = None,
    *,
    actions: Sequence[str] = schema.ARM_NAMES,
    nuisance: str = "t-pooled",
    effect: EffectParams | None = None,
    random_state: int = 0,
) -> DRLearner | XLearner:
    """The learner called ``name`` (one of :data:`UPLIFT_LEARNERS`)."""
    kinds: dict[str, type[DRLearner] | type[XLearner]] = {"dr": DRLearner, "x": XLearner}
    if name not in kinds:
        raise ModelError(f"uplift learner must be one of {list(UPLIFT_LEARNERS)}; got {name!r}.")
    return kinds[name](
        settings=settings,
        actions=actions,
        nuisance=nuisance,
        effect=effect,
        random_state=random_state,
    )
