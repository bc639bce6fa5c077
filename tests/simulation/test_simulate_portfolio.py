"""The synthetic portfolio: determinism, domains, marginals, ground truth and logged history."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from loan_recovery.config import Settings, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError, LoanRecoveryError, SchemaError
from loan_recovery.finance import discount_factor, reducing_balance_emi
from loan_recovery.simulation.logging_policy import (
    logging_policy_probabilities,
    rule_of_thumb_actions,
)
from loan_recovery.simulation.portfolio import SimulatedPortfolio, simulate_portfolio
from loan_recovery.strategy.actions import ActionCatalogue
from loan_recovery.strategy.rules import apply_guardrails

LOANS = 20_000
SEED = 20_240_601
ACTIONS = list(schema.ACTION_NAMES)
#: Every arm of the truth and the logged history: hold first, then the actions.
ARMS = list(schema.ARM_NAMES)
#: Legal needs an NPA: the catalogue allows it from this DPD on.
LEGAL_MIN_DPD = 91
#: Columns a risk model may not read: what was done, what came of it, and Gender (fairness).
NOT_RISK_INPUTS = {*schema.ACTION_AND_OUTCOME_COLUMNS, schema.GENDER}


@pytest.fixture(scope="module")
def portfolio(settings: Settings) -> SimulatedPortfolio:
    """20,000 loans with a fixed seed, simulated once for the whole module."""
    return simulate_portfolio(LOANS, SEED, settings=settings)


@pytest.fixture(scope="module")
def loans(portfolio: SimulatedPortfolio) -> pd.DataFrame:
    """The lender's view of the module portfolio."""
    return portfolio.loans


@pytest.fixture(scope="module")
def truth(portfolio: SimulatedPortfolio) -> pd.DataFrame:
    """The ground truth of the module portfolio."""
    return portfolio.truth


def _dpd_bucket(loans: pd.DataFrame) -> pd.Series:
    """DPD buckets 0, 1-30, 31-60, 61-90, 91-180, 180+ as an ordered category."""
    edges = [-1, 0, 30, 60, 90, 180, np.inf]
    return pd.cut(loans[schema.DAYS_PAST_DUE], edges, labels=list(schema.DPD_BUCKETS))


def _strictly_increasing(values: pd.Series) -> bool:
    return bool(np.all(np.diff(values.to_numpy()) > 0))


# --- determinism ---------------------------------------------------------------------------
def test_same_seed_gives_identical_frames_and_bytes(settings: Settings) -> None:
    """Gives the same seed twice; expects equal frames and byte-identical CSV text."""
    first = simulate_portfolio(3_000, 11, settings=settings)
    second = simulate_portfolio(3_000, 11, settings=settings)
    pd.testing.assert_frame_equal(first.loans, second.loans)
    pd.testing.assert_frame_equal(first.truth, second.truth)
    assert first.loans.to_csv(index=False) == second.loans.to_csv(index=False)
    assert first.truth.to_csv(index=False) == second.truth.to_csv(index=False)


def test_different_seeds_give_different_portfolios(settings: Settings) -> None:
    """Gives two seeds; expects different amounts, outcomes and logged actions."""
    first = simulate_portfolio(3_000, 1, settings=settings)
    second = simulate_portfolio(3_000, 2, settings=settings)
    for column in (schema.LOAN_AMOUNT, schema.AMOUNT_RECOVERED, schema.ACTION_TAKEN):
        assert not first.loans[column].equals(second.loans[column])


# --- layout and domains --------------------------------------------------------------------
def test_loans_have_the_canonical_and_optional_columns(loans: pd.DataFrame) -> None:
    """Gives the module portfolio; expects canonical columns then optional ones, in order."""
    assert list(loans.columns) == [*schema.CANONICAL_COLUMNS, *schema.OPTIONAL_COLUMNS]
    assert len(loans) == LOANS
    assert isinstance(loans.index, pd.RangeIndex)


def test_truth_is_separate_and_keyed_by_loan_id(loans: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Gives both frames; expects no truth column in loans except the Loan_ID key."""
    assert set(truth.columns) & set(loans.columns) == {schema.LOAN_ID}
    assert truth[schema.LOAN_ID].equals(loans[schema.LOAN_ID])
    expected = {
        schema.CAPACITY,
        schema.WILLINGNESS,
        schema.REACHABILITY,
        schema.FORGETFULNESS,
        schema.ORACLE_ACTION,
        schema.ORACLE_ACTION_UNCONSTRAINED,
        schema.LOGGED_ACTION,
    }
    for action in ARMS:
        expected |= {
            schema.expected_fraction_column(action),
            schema.expected_net_column(action),
            schema.realised_amount_column(action),
        }
    assert set(truth.columns) - {schema.LOAN_ID} == expected
    traits = truth[[schema.CAPACITY, schema.WILLINGNESS, schema.REACHABILITY]]
    assert ((traits > 0) & (traits < 1)).all().all()


@pytest.mark.parametrize("spec", schema.ALL_SPECS, ids=lambda spec: spec.name)
def test_every_column_passes_its_schema_domain(
    loans: pd.DataFrame, spec: schema.ColumnSpec
) -> None:
    """Gives each declared column; expects its dtype, no blanks, and values inside its domain."""
    column = loans[spec.name]
    assert column.notna().all()
    if spec.kind is schema.ColumnKind.INTEGER:
        assert column.dtype == np.int64
    elif spec.kind is schema.ColumnKind.NUMBER:
        assert column.dtype == np.float64
    else:
        assert pd.api.types.is_string_dtype(column.dtype)
    if spec.kind is schema.ColumnKind.CATEGORY:
        assert set(column.unique()) <= set(spec.categories)
    if spec.minimum is not None:
        assert (
            (column > spec.minimum).all()
            if spec.exclusive_minimum
            else (column >= spec.minimum).all()
        )
    if spec.maximum is not None:
        assert (column <= spec.maximum).all()


def test_values_follow_the_lender_conventions(loans: pd.DataFrame, settings: Settings) -> None:
    """Gives the module portfolio; expects keys, rounding, phone/email forms and the 3x cap."""
    assert loans[schema.LOAN_ID].is_unique
    assert loans[schema.LOAN_ID].str.fullmatch(r"LN\d{7}").all()
    assert loans[schema.BORROWER_ID].str.fullmatch(r"BRW\d{7}").all()
    assert loans[schema.PHONE].str.fullmatch(r"\+91[6-9]\d{9}").all()
    assert loans[schema.EMAIL].str.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z.]+").all()
    assert set(loans[schema.COLLECTION_METHOD].unique()) == {
        *schema.COLLECTION_METHODS,
        schema.HOLD,
    }
    assert set(loans[schema.LOAN_TYPE].unique()) == {"Personal", "Home", "Auto", "Business"}
    assert (loans[schema.AS_OF_DATE] == settings.simulator.as_of_date).all()
    assert loans[schema.TIME_ZONE].str.fullmatch(r"[A-Z][a-z]+/[A-Za-z_]+").all()
    for column in schema.AMOUNT_COLUMNS:
        values = loans[column].to_numpy()
        np.testing.assert_array_equal(values, np.round(values, 2), err_msg=column)
    limit = settings.validation.max_outstanding_to_loan_ratio * loans[schema.LOAN_AMOUNT]
    assert (loans[schema.OUTSTANDING_LOAN_AMOUNT] <= limit).all()
    assert (loans[schema.OUTSTANDING_LOAN_AMOUNT] > 0).all()


# --- marginals -----------------------------------------------------------------------------
def test_dpd_has_a_mass_at_zero_and_a_tail_past_180(loans: pd.DataFrame) -> None:
    """Gives the module portfolio; expects 20-45% current loans and >= 5% past 180 days."""
    dpd = loans[schema.DAYS_PAST_DUE]
    assert 0.20 <= (dpd == 0).mean() <= 0.45
    assert (dpd > 180).mean() >= 0.05
    assert (dpd.between(1, 30)).mean() >= 0.10


def test_collateral_follows_the_product(loans: pd.DataFrame) -> None:
    """Gives the module portfolio; expects home/auto mostly secured, personal never."""
    secured = (loans[schema.COLLATERAL_VALUE] > 0).groupby(loans[schema.LOAN_TYPE]).mean()
    assert secured["Home"] >= 0.9
    assert secured["Auto"] >= 0.85
    assert secured["Personal"] == 0.0
    assert 0.25 <= secured["Business"] <= 0.65


def test_amounts_and_incomes_are_at_indian_lender_scale(loans: pd.DataFrame) -> None:
    """Gives the module portfolio; expects INR incomes mostly 15k-250k, home > auto > personal."""
    income = loans[schema.MONTHLY_INCOME]
    assert 25_000 <= income.median() <= 70_000
    assert income.between(12_000, 250_000).mean() >= 0.9
    median_amount = loans.groupby(schema.LOAN_TYPE)[schema.LOAN_AMOUNT].median()
    assert median_amount["Home"] > median_amount["Auto"] > median_amount["Personal"]
    rate = loans.groupby(schema.LOAN_TYPE)[schema.INTEREST_RATE].median()
    assert rate["Home"] < rate["Personal"]


def test_emi_is_the_reducing_balance_instalment(loans: pd.DataFrame) -> None:
    """Gives the module portfolio; expects Monthly_EMI = reducing_balance_emi to the paisa."""
    expected = reducing_balance_emi(
        loans[schema.LOAN_AMOUNT], loans[schema.INTEREST_RATE], loans[schema.LOAN_TENURE]
    )
    np.testing.assert_allclose(loans[schema.MONTHLY_EMI], expected, rtol=0, atol=0.005 + 1e-9)


def test_missed_payments_and_attempts_grow_with_dpd(loans: pd.DataFrame) -> None:
    """Gives the module portfolio; expects mean missed payments and contacts rising with DPD."""
    by_bucket = loans.groupby(_dpd_bucket(loans), observed=True)
    assert _strictly_increasing(by_bucket[schema.NUM_MISSED_PAYMENTS].mean())
    assert _strictly_increasing(by_bucket[schema.COLLECTION_ATTEMPTS].mean())
    delinquent = loans[loans[schema.DAYS_PAST_DUE].between(1, 360)]
    ratio = delinquent[schema.NUM_MISSED_PAYMENTS] / (delinquent[schema.DAYS_PAST_DUE] / 30.0)
    assert 0.8 <= ratio.median() <= 1.6


def test_prior_legal_action_is_rare_and_late(loans: pd.DataFrame) -> None:
    """Gives the module portfolio; expects < 10% with prior legal action, mostly past 180 DPD."""
    legal = loans[schema.LEGAL_ACTION_TAKEN] == "Yes"
    assert legal.mean() < 0.10
    dpd = loans[schema.DAYS_PAST_DUE]
    assert legal[dpd > 180].mean() > 5 * legal[dpd <= 90].mean()


# --- potential outcomes and the oracle -----------------------------------------------------
def test_expected_net_is_discounted_fraction_times_outstanding_after_costs(
    loans: pd.DataFrame, truth: pd.DataFrame, settings: Settings
) -> None:
    """Gives the truth frame; expects net = fraction x outstanding x (1 - share) x DF(days)
    - fixed cost per action, and hold = fraction x outstanding x DF(30 days), costing nothing.
    """
    outstanding = loans[schema.OUTSTANDING_LOAN_AMOUNT]
    rate = settings.economics.cost_of_funds
    for action in ACTIONS:
        cost = settings.actions[action]
        fraction = truth[schema.expected_fraction_column(action)]
        assert fraction.between(0, 1).all()
        discount = discount_factor(cost.days_to_money, rate)
        expected = fraction * outstanding * (1 - cost.recovery_share) * discount - cost.fixed_cost
        np.testing.assert_allclose(truth[schema.expected_net_column(action)], expected, rtol=1e-9)
    hold_fraction = truth[schema.expected_fraction_column(schema.HOLD)]
    assert hold_fraction.between(0, 1).all()
    hold_discount = discount_factor(settings.economics.hold_days_to_money, rate)
    np.testing.assert_allclose(
        truth[schema.expected_net_column(schema.HOLD)],
        hold_fraction * outstanding * hold_discount,
        rtol=1e-9,
    )
    for arm in ARMS:
        realised = truth[schema.realised_amount_column(arm)]
        assert (realised >= 0).all()
        assert (realised <= outstanding).all()


def test_legal_pays_later_than_a_reminder(truth: pd.DataFrame, settings: Settings) -> None:
    """Gives equal fractions: the 540-day legal money is worth 0.88 of today's at 9%,
    a 15-day reminder's 0.996 (the discounting the module docstring states)."""
    rate = settings.economics.cost_of_funds
    assert discount_factor(settings.actions["legal"].days_to_money, rate) == pytest.approx(
        0.880, abs=5e-4
    )
    assert discount_factor(settings.actions["reminder"].days_to_money, rate) == pytest.approx(
        0.996, abs=5e-4
    )


def _allowed_arms(loans: pd.DataFrame, truth: pd.DataFrame, settings: Settings) -> np.ndarray:
    """n x arms: the catalogue and the guardrails on the true fractions, risk taken as met."""
    catalogue = ActionCatalogue.from_settings(settings)
    fractions = pd.DataFrame(
        {action: truth[schema.expected_fraction_column(action)] for action in catalogue.names}
    )
    outcome = apply_guardrails(loans, np.ones(len(loans)), fractions, catalogue, settings.strategy)
    allowed = np.ones((len(loans), len(ARMS)), dtype=bool)
    for column, arm in enumerate(ARMS[1:], start=1):
        allowed[:, column] = outcome.allowed[arm].to_numpy()
    return allowed


def test_unconstrained_oracle_is_the_argmax_of_expected_net(truth: pd.DataFrame) -> None:
    """Gives the truth frame; expects Oracle_Action_Unconstrained to be the best of all arms."""
    net = truth[[schema.expected_net_column(arm) for arm in ARMS]].to_numpy()
    best = np.asarray(ARMS)[net.argmax(axis=1)]
    np.testing.assert_array_equal(truth[schema.ORACLE_ACTION_UNCONSTRAINED].to_numpy(), best)


def test_oracle_is_the_best_allowed_arm(
    loans: pd.DataFrame, truth: pd.DataFrame, settings: Settings
) -> None:
    """Gives the truth frame; expects Oracle_Action = the argmax of expected net over the arms
    the catalogue and guardrails allow (hold always), never worth more than the unconstrained
    oracle, and never legal before 91 DPD, where the unconstrained oracle does pick it."""
    net = truth[[schema.expected_net_column(arm) for arm in ARMS]].to_numpy()
    allowed = _allowed_arms(loans, truth, settings)
    best = np.asarray(ARMS)[np.where(allowed, net, -np.inf).argmax(axis=1)]
    np.testing.assert_array_equal(truth[schema.ORACLE_ACTION].to_numpy(), best)

    position = {arm: i for i, arm in enumerate(ARMS)}
    rows = np.arange(len(truth))
    oracle_net = net[rows, truth[schema.ORACLE_ACTION].map(position).to_numpy()]
    free_net = net[rows, truth[schema.ORACLE_ACTION_UNCONSTRAINED].map(position).to_numpy()]
    assert (oracle_net <= free_net).all()
    early = loans[schema.DAYS_PAST_DUE] < LEGAL_MIN_DPD
    assert not (truth[schema.ORACLE_ACTION] == "legal")[early].any()
    assert (truth[schema.ORACLE_ACTION_UNCONSTRAINED] == "legal")[early].sum() > 0
    assert set(truth[schema.ORACLE_ACTION].unique()) == set(ARMS)


def test_a_longer_horizon_never_recovers_less() -> None:
    """Gives horizons of 90, 180 and 365 days; expects expected fractions rising loan by loan."""
    fractions = [
        simulate_portfolio(2_000, 9, settings=load_settings(simulator={"horizon_days": days}))
        .truth[[schema.expected_fraction_column(arm) for arm in ARMS]]
        .to_numpy()
        for days in (90, 180, 365)
    ]
    assert (fractions[0] <= fractions[1]).all()
    assert (fractions[1] <= fractions[2]).all()
    assert fractions[0].mean() < fractions[1].mean() < fractions[2].mean()


def test_the_best_action_is_heterogeneous(truth: pd.DataFrame) -> None:
    """Gives the truth frame; expects no action best for > 50% and four best for >= 5% each."""
    shares = truth[schema.ORACLE_ACTION].value_counts(normalize=True)
    assert shares.max() <= 0.5, shares.to_dict()
    assert (shares >= 0.05).sum() >= 4, shares.to_dict()


def test_response_shapes_follow_collections_practice(
    loans: pd.DataFrame, truth: pd.DataFrame
) -> None:
    """Gives the module portfolio; expects each arm best where the playbook says it is (hold:
    able payers who are current)."""
    profile = pd.DataFrame(
        {
            "capacity": truth[schema.CAPACITY],
            "willingness": truth[schema.WILLINGNESS],
            "reachability": truth[schema.REACHABILITY],
            "forgetfulness": truth[schema.FORGETFULNESS],
            "coverage": loans[schema.COLLATERAL_VALUE] / loans[schema.OUTSTANDING_LOAN_AMOUNT],
            "burden": loans[schema.MONTHLY_EMI] / loans[schema.MONTHLY_INCOME],
        }
    )
    by_oracle = profile.groupby(truth[schema.ORACLE_ACTION]).median()
    overall = profile.median()
    assert by_oracle.loc["legal", "coverage"] > max(1.0, overall["coverage"])
    assert by_oracle.loc["legal", "willingness"] < overall["willingness"]
    assert by_oracle.loc["settlement", "capacity"] < overall["capacity"]
    assert by_oracle.loc["reminder", "capacity"] > overall["capacity"]
    assert by_oracle.loc["reminder", "forgetfulness"] > overall["forgetfulness"]
    assert by_oracle.loc["agency", "reachability"] < overall["reachability"]
    assert by_oracle.loc["restructure", "burden"] > overall["burden"]
    assert by_oracle.loc["restructure", "willingness"] > overall["willingness"]
    held = truth[schema.ORACLE_ACTION] == schema.HOLD
    assert (loans.loc[held, schema.DAYS_PAST_DUE] == 0).mean() > 0.8
    assert by_oracle.loc[schema.HOLD, "capacity"] > overall["capacity"]


# --- logged history ------------------------------------------------------------------------
def test_propensity_is_the_logging_policy_probability(
    loans: pd.DataFrame, settings: Settings
) -> None:
    """Gives the module portfolio; expects Action_Propensity = policy probability of the action."""
    probabilities = logging_policy_probabilities(loans, settings.simulator.epsilon)
    assert list(probabilities.columns) == ARMS
    assert probabilities.index.equals(loans.index)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    early = loans[schema.DAYS_PAST_DUE] < LEGAL_MIN_DPD
    assert (probabilities.loc[early, "legal"] == 0.0).all()
    assert not (loans[schema.ACTION_TAKEN] == "legal")[early].any()
    taken = loans[schema.ACTION_TAKEN].map({arm: i for i, arm in enumerate(ARMS)})
    chosen = probabilities.to_numpy()[np.arange(len(loans)), taken.to_numpy()]
    np.testing.assert_array_equal(loans[schema.ACTION_PROPENSITY].to_numpy(), chosen)


def test_logged_action_explores_at_the_configured_rate(
    loans: pd.DataFrame, settings: Settings
) -> None:
    """Gives the module portfolio; expects the rule's arm (1 - eps) + eps/k of the time, k the
    arms the loan may get: 6 before 91 DPD (legal not yet), 7 after; and every arm logged."""
    epsilon = settings.simulator.epsilon
    follows_rule = loans[schema.ACTION_TAKEN] == rule_of_thumb_actions(loans)
    arms = np.where(loans[schema.DAYS_PAST_DUE] < LEGAL_MIN_DPD, 6, 7)
    expected = 1 - epsilon + epsilon * np.mean(1 / arms)
    assert follows_rule.mean() == pytest.approx(expected, abs=0.01)
    assert set(loans[schema.ACTION_TAKEN].unique()) == set(ARMS)
    current = loans[schema.DAYS_PAST_DUE] == 0
    assert (loans.loc[current, schema.ACTION_TAKEN] == schema.HOLD).mean() == pytest.approx(
        1 - epsilon + epsilon / 6, abs=0.015
    )


def test_logged_columns_agree_with_each_other(
    loans: pd.DataFrame, truth: pd.DataFrame, settings: Settings
) -> None:
    """Gives both frames; expects method = mapped action and amount = realised logged outcome."""
    action = loans[schema.ACTION_TAKEN]
    assert action.equals(truth[schema.LOGGED_ACTION].rename(schema.ACTION_TAKEN))
    methods = action.map(
        {schema.HOLD: schema.HOLD}
        | {name: cost.collection_method for name, cost in settings.actions.items()}
    )
    assert loans[schema.COLLECTION_METHOD].equals(methods.rename(schema.COLLECTION_METHOD))
    realised = truth[[schema.realised_amount_column(name) for name in ARMS]].to_numpy()
    index = action.map({name: i for i, name in enumerate(ARMS)}).to_numpy()
    np.testing.assert_array_equal(
        loans[schema.AMOUNT_RECOVERED].to_numpy(), realised[np.arange(len(loans)), index]
    )


def test_recovery_status_matches_amount_and_thresholds(
    loans: pd.DataFrame, settings: Settings
) -> None:
    """Gives the module portfolio; expects the status the recovered share and thresholds imply."""
    fraction = loans[schema.AMOUNT_RECOVERED] / loans[schema.OUTSTANDING_LOAN_AMOUNT]
    assert fraction.between(0, 1).all()
    expected = np.select(
        [
            fraction >= settings.simulator.fully_recovered_fraction,
            fraction < settings.simulator.written_off_fraction,
        ],
        [schema.FULLY_RECOVERED, schema.WRITTEN_OFF],
        schema.PARTIALLY_RECOVERED,
    )
    np.testing.assert_array_equal(loans[schema.RECOVERY_STATUS].to_numpy(), expected)
    assert set(loans[schema.RECOVERY_STATUS].unique()) == set(schema.RECOVERY_STATUSES)
    assert 0.40 <= (loans[schema.RECOVERY_STATUS] != schema.FULLY_RECOVERED).mean() <= 0.70


def test_risk_is_learnable_but_not_trivial(loans: pd.DataFrame) -> None:
    """Gives observable columns only; expects a held-out ROC-AUC in [0.75, 0.90] for default."""
    features = [
        spec.name
        for spec in schema.REQUIRED_SPECS
        if spec.kind is not schema.ColumnKind.TEXT and spec.name not in NOT_RISK_INPUTS
    ]
    inputs = loans[features].copy()
    for column in features:
        if not pd.api.types.is_numeric_dtype(inputs[column]):
            inputs[column] = inputs[column].astype("category")
    target = (loans[schema.RECOVERY_STATUS] != schema.FULLY_RECOVERED).to_numpy()
    train_x, test_x, train_y, test_y = train_test_split(
        inputs, target, test_size=0.3, random_state=0, stratify=target
    )
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    model.fit(train_x, train_y)
    auc = roc_auc_score(test_y, model.predict_proba(test_x)[:, 1])
    assert 0.75 <= auc <= 0.90, auc


# --- the logging policy --------------------------------------------------------------------
def _policy_table(rows: list[tuple[int, float, float, str]]) -> pd.DataFrame:
    """Loans with (DPD, EMI-to-income ratio, collateral, prior legal) and a 100k income."""
    return pd.DataFrame(
        {
            schema.DAYS_PAST_DUE: [row[0] for row in rows],
            schema.MONTHLY_EMI: [row[1] * 100_000.0 for row in rows],
            schema.MONTHLY_INCOME: [100_000.0] * len(rows),
            schema.COLLATERAL_VALUE: [row[2] for row in rows],
            schema.LEGAL_ACTION_TAKEN: [row[3] for row in rows],
        }
    )


def test_rule_of_thumb_known_answers() -> None:
    """Gives loans on each side of every DPD band edge; expects the lender's textbook action."""
    cases = [
        ((0, 0.2, 0.0, "No"), schema.HOLD),
        ((0, 0.9, 1e6, "No"), schema.HOLD),
        ((1, 0.2, 0.0, "No"), "reminder"),
        ((30, 0.2, 0.0, "No"), "reminder"),
        ((31, 0.2, 0.0, "No"), "call"),
        ((60, 0.9, 1e6, "No"), "call"),
        ((61, 0.6, 0.0, "No"), "restructure"),
        ((90, 0.3, 0.0, "No"), "settlement"),
        ((91, 0.3, 1e6, "No"), "legal"),
        ((400, 0.3, 1e6, "Yes"), "agency"),
        ((91, 0.3, 0.0, "No"), "agency"),
    ]
    table = _policy_table([case for case, _ in cases])
    assert rule_of_thumb_actions(table).tolist() == [action for _, action in cases]


def test_policy_probabilities_are_epsilon_greedy() -> None:
    """Gives eps = 0.3; expects exploration spread over the arms the catalogue allows only.

    A current loan may get 6 arms (legal needs DPD > 90): 0.7 + 0.3/6 = 0.75 on hold, 0.05
    on each other allowed arm, 0 on legal. A secured loan at 120 DPD may get all 7:
    0.7 + 0.3/7 on legal, 0.3/7 on every other arm, hold included.
    """
    table = _policy_table([(0, 0.2, 0.0, "No"), (120, 0.2, 5e5, "No"), (90, 0.2, 5e5, "No")])
    probabilities = logging_policy_probabilities(table, 0.3)
    assert list(probabilities.columns) == ARMS
    assert probabilities.loc[0, schema.HOLD] == pytest.approx(0.75)
    assert probabilities.loc[0, "legal"] == 0.0
    for arm in ("reminder", "call", "restructure", "settlement", "agency"):
        assert probabilities.loc[0, arm] == pytest.approx(0.05)
    assert probabilities.loc[1, "legal"] == pytest.approx(0.7 + 0.3 / 7)
    for arm in (schema.HOLD, "reminder", "call", "restructure", "settlement", "agency"):
        assert probabilities.loc[1, arm] == pytest.approx(0.3 / 7)
    assert probabilities.loc[2, "settlement"] == pytest.approx(0.75)
    assert probabilities.loc[2, "legal"] == 0.0
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_epsilon_zero_always_follows_the_rule(settings: Settings) -> None:
    """Gives epsilon = 0; expects every logged action to be the rule's, with propensity 1."""
    loans = simulate_portfolio(5_000, 3, settings=settings, epsilon=0.0).loans
    assert loans[schema.ACTION_TAKEN].equals(rule_of_thumb_actions(loans))
    assert (loans[schema.ACTION_PROPENSITY] == 1.0).all()


def test_epsilon_defaults_to_the_settings() -> None:
    """Gives settings with simulator.epsilon = 0; expects the rule followed without an argument."""
    settings = load_settings(simulator={"epsilon": 0.0})
    loans = simulate_portfolio(2_000, 5, settings=settings).loans
    assert (loans[schema.ACTION_PROPENSITY] == 1.0).all()


def test_full_exploration_is_uniform_over_the_allowed_arms(settings: Settings) -> None:
    """Gives epsilon = 1; expects propensity 1/6 before 91 DPD (legal not allowed) and 1/7
    after, roughly equal shares of the six arms up to 90 DPD, and no legal there."""
    loans = simulate_portfolio(6_000, 4, settings=settings, epsilon=1.0).loans
    early = loans[schema.DAYS_PAST_DUE] < LEGAL_MIN_DPD
    np.testing.assert_allclose(loans.loc[early, schema.ACTION_PROPENSITY], 1 / 6)
    np.testing.assert_allclose(loans.loc[~early, schema.ACTION_PROPENSITY], 1 / 7)
    assert set(loans[schema.ACTION_TAKEN].unique()) == set(ARMS)
    early_shares = loans.loc[early, schema.ACTION_TAKEN].value_counts(normalize=True)
    assert set(early_shares.index) == set(ARMS) - {"legal"}
    assert early_shares.between(0.13, 0.20).all()
    late_shares = loans.loc[~early, schema.ACTION_TAKEN].value_counts(normalize=True)
    assert set(late_shares.index) == set(ARMS)
    assert late_shares.between(0.09, 0.20).all()


# --- argument errors -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_loans": 0}, "n_loans must be >= 1; got 0."),
        ({"n_loans": -5}, "n_loans must be >= 1; got -5."),
        ({"n_loans": 2.5}, "n_loans must be an integer; got 2.5."),
        ({"n_loans": True}, "n_loans must be an integer; got True."),
        ({"random_state": -1}, "random_state must be >= 0; got -1."),
        ({"random_state": "7"}, "random_state must be an integer; got '7'."),
        ({"epsilon": 1.5}, "epsilon must be in [0, 1]; got 1.5."),
        ({"epsilon": -0.1}, "epsilon must be in [0, 1]; got -0.1."),
    ],
)
def test_bad_arguments_raise_clear_config_errors(
    kwargs: dict[str, object], message: str, settings: Settings
) -> None:
    """Gives one bad argument; expects a ConfigError (also a ValueError) saying what came."""
    arguments: dict[str, object] = {"n_loans": 10, "random_state": 1, **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        simulate_portfolio(settings=settings, **arguments)  # type: ignore[arg-type]
    assert isinstance(caught.value, LoanRecoveryError)
    assert isinstance(caught.value, ValueError)


def test_logging_policy_names_missing_columns() -> None:
    """Gives a table without DPD; expects a SchemaError that lists the missing column."""
    table = _policy_table([(0, 0.2, 0.0, "No")]).drop(columns=[schema.DAYS_PAST_DUE])
    with pytest.raises(SchemaError, match=schema.DAYS_PAST_DUE) as caught:
        logging_policy_probabilities(table, 0.2)
    assert caught.value.missing_columns == (schema.DAYS_PAST_DUE,)


def test_one_loan_is_enough(settings: Settings) -> None:
    """Gives n_loans = 1; expects a one-row table and truth."""
    portfolio = simulate_portfolio(1, 0, settings=settings)
    assert len(portfolio.loans) == 1
    assert len(portfolio.truth) == 1
