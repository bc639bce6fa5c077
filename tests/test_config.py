"""Settings: defaults, TOML file, environment precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

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
