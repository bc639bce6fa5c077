"""Settings: defaults, TOML file, environment precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from loan_recovery import actions as catalogue
from loan_recovery.config import CONFIG_FILE_ENV, load_settings
from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without LOAN_RECOVERY_* variables from the caller's shell."""
    for name in (
        "LOAN_RECOVERY_CONFIG",
        "LOAN_RECOVERY_SIMULATOR__EPSILON",
        "LOAN_RECOVERY_VAR_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_cover_the_whole_action_catalogue() -> None:
    """Gives no file; expects a cost entry for every catalogue action and the 0.2 epsilon."""
    settings = load_settings()
    assert set(settings.actions) == set(schema.ACTION_NAMES)
    assert settings.simulator.epsilon == 0.2
    assert settings.actions["legal"].fixed_cost > settings.actions["call"].fixed_cost


def test_action_defaults_come_from_the_one_catalogue() -> None:
    """Gives no file; expects every action's cost, share, days to money, method and DPD
    window as loan_recovery.actions lists them (legal: 540 days, from 91 DPD)."""
    settings = load_settings()
    for spec in catalogue.ACTIONS:
        config = settings.actions[spec.name]
        assert config.fixed_cost == spec.fixed_cost, spec.name
        assert config.recovery_share == spec.recovery_share, spec.name
        assert config.days_to_money == spec.days_to_money, spec.name
        assert config.collection_method == spec.collection_method, spec.name
        assert config.min_days_past_due == spec.min_days_past_due, spec.name
    assert settings.actions["legal"].days_to_money == 540
    assert settings.actions["legal"].min_days_past_due == 91
    assert settings.actions["reminder"].days_to_money == 15
    assert (catalogue.HOLD, *schema.ACTION_NAMES) == catalogue.ARM_NAMES
    assert schema.HOLD not in settings.actions


def test_economics_and_strategy_defaults() -> None:
    """Gives no file; expects a 9% cost of funds, hold paying in 30 days, a 2-point, 12-month
    restructure with a 30% re-default chance, planning on any positive uplift with the safe
    guard on against BAU, the original tiers, and current loans left alone by the rule."""
    settings = load_settings()
    economics = settings.economics
    assert economics.cost_of_funds == 0.09
    assert economics.hold_days_to_money == 30
    assert economics.restructure_rate_concession == 2.0
    assert economics.restructure_extension_months == 12
    assert economics.restructure_redefault_chance == 0.30
    assert economics.restructure_redefault_recovery == 0.35
    strategy = settings.strategy
    assert strategy.min_uplift == 0.0
    assert strategy.baseline_policy == "bau"
    assert strategy.safe.enabled
    assert strategy.bau_source == "rule"
    assert strategy.bau_tree_depth == 4
    rules = strategy.threshold_rules
    assert (rules.legal_risk, rules.offer_risk, rules.call_risk) == (0.72, 0.65, 0.32)
    assert rules.legal_min_days_past_due == 91
    assert settings.simulator.logging_rule.hold_max_dpd == 0


def test_economics_from_a_file(tmp_path: Path) -> None:
    """Gives a TOML [economics] table and a slower reminder; expects both read."""
    config = tmp_path / "settings.toml"
    config.write_text(
        "[economics]\ncost_of_funds = 0.12\nhold_days_to_money = 45\n"
        '[actions.reminder]\nfixed_cost = 50\nchannel = "sms"\n'
        'collection_method = "Calls"\ndays_to_money = 20\n'
    )
    settings = load_settings(config)
    assert settings.economics.cost_of_funds == 0.12
    assert settings.economics.hold_days_to_money == 45
    assert settings.actions["reminder"].days_to_money == 20


def test_toml_file_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives a TOML file, an env var and an argument; expects argument > env > file."""
    config = tmp_path / "settings.toml"
    config.write_text(
        'var_dir = "from-file"\n[simulator]\nepsilon = 0.1\n[actions.call]\n'
        'fixed_cost = 999\nchannel = "phone"\ncollection_method = "Calls"\n'
    )
    settings = load_settings(config)
    assert settings.simulator.epsilon == 0.1
    assert settings.actions["call"].fixed_cost == 999
    assert settings.var_dir == Path("from-file")

    monkeypatch.setenv("LOAN_RECOVERY_SIMULATOR__EPSILON", "0.3")
    assert load_settings(config).simulator.epsilon == 0.3
    assert load_settings(config, var_dir=Path("arg")).var_dir == Path("arg")


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Gives LOAN_RECOVERY_CONFIG pointing to a file; expects its values used."""
    config = tmp_path / "settings.toml"
    config.write_text("[demo]\nloans = 123\n")
    monkeypatch.setenv(CONFIG_FILE_ENV, str(config))
    assert load_settings().demo.loans == 123


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[simulator]\nepsilon = 2\n", "simulator.epsilon"),
        (
            '[actions.teleport]\nfixed_cost = 1\nchannel = "x"\ncollection_method = "Calls"\n',
            "unknown action",
        ),
        (
            '[actions.call]\nfixed_cost = -1\nchannel = "phone"\ncollection_method = "Calls"\n',
            "actions.call.fixed_cost",
        ),
        (
            "[simulator]\nwritten_off_fraction = 0.9\nfully_recovered_fraction = 0.5\n",
            "below fully_recovered_fraction",
        ),
        ("[simulator\n", "cannot read config file"),
        ("[simulator.logging_rule]\ncall_max_dpd = 20\n", "DPD bands must ascend"),
        ("[simulator.logging_rule]\nhold_max_dpd = 30\n", "DPD bands must ascend"),
        ("[economics]\ncost_of_funds = 1.0\n", "economics.cost_of_funds"),
        ("[economics]\nrestructure_redefault_chance = 1.5\n", "restructure_redefault_chance"),
        ("[strategy]\nmin_uplift = -1\n", "strategy.min_uplift"),
        ('[strategy]\nbau_source = "guess"\n', "strategy.bau_source"),
        ("[strategy.safe]\nconfidence = 0.4\n", "strategy.safe.confidence"),
        (
            '[actions.call]\nfixed_cost = 1\nchannel = "phone"\ncollection_method = "Calls"\n'
            "days_to_money = -1\n",
            "actions.call.days_to_money",
        ),
    ],
)
def test_invalid_settings_name_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    """Gives a bad settings file; expects ConfigError naming what is wrong."""
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    """Gives a path that does not exist; expects ConfigError saying so."""
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_display_defaults_to_indian_rupees_in_lakh_groups() -> None:
    """Gives no file; expects en_IN, INR and grouped amounts, and India's public holidays
    (no state's, no extra dates) as no-contact days."""
    settings = load_settings()
    assert (settings.display.locale, settings.display.currency) == ("en_IN", "INR")
    assert settings.display.units == "grouped"
    assert settings.notify.holiday_country == "IN"
    assert settings.notify.holiday_subdivisions == ()
    assert settings.notify.holidays == ()


def test_display_and_holidays_from_a_file(tmp_path: Path) -> None:
    """Gives [display] and [notify] holiday settings; expects them read and normalised."""
    config = tmp_path / "settings.toml"
    config.write_text(
        '[display]\nlocale = "de-DE"\ncurrency = "eur"\nunits = "crore_lakh"\n'
        '[notify]\nholiday_subdivisions = ["mh", "KA"]\nholidays = ["2026-12-24"]\n'
    )
    settings = load_settings(config)
    assert (settings.display.locale, settings.display.currency) == ("de_DE", "EUR")
    assert settings.display.units == "crore_lakh"
    assert settings.notify.holiday_subdivisions == ("MH", "KA")
    assert str(settings.notify.holidays[0]) == "2026-12-24"
    off = load_settings(config, notify={"holiday_country": "", "holiday_subdivisions": []})
    assert off.notify.holiday_country is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[display]\nlocale = "xx_YY"\n', "display.locale"),
        ('[display]\ncurrency = "RUPEE"\n', "display.currency"),
        ('[display]\nunits = "millions"\n', "display.units"),
        ('[dashboard]\ncurrency_symbol = "Rs"\n', "currency_symbol moved to \\[display\\]"),
        ('[notify]\ncurrency_symbol = "Rs"\n', "currency_symbol moved to \\[display\\]"),
        ('[notify]\nholiday_subdivisions = ["Atlantis"]\n', "not subdivisions of IN"),
    ],
)
def test_invalid_display_settings_name_the_field(tmp_path: Path, text: str, fragment: str) -> None:
    """Gives a bad [display] or an old currency_symbol; expects ConfigError saying what."""
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(config)
