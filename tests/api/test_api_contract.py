"""The API's contract: models derived from the column specs, settings, the serve command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import ApiWorld
from pydantic import ValidationError
from typer.testing import CliRunner

from loan_recovery import cli
from loan_recovery.api.schemas import MAX_INTEGER, MAX_NUMBER, build_schemas, loan_model
from loan_recovery.config import load_settings
from loan_recovery.data import schema
from loan_recovery.data.schema import ColumnKind
from loan_recovery.exceptions import ConfigError

runner = CliRunner()


def test_the_loan_model_has_exactly_the_schema_columns() -> None:
    """Gives the column specs; expects a field per spec, required = a file's required columns."""
    fields = loan_model().model_fields
    assert list(fields) == [spec.name for spec in schema.ALL_SPECS]
    required = {name for name, field in fields.items() if field.is_required()}
    assert required == set(schema.REQUIRED_COLUMNS)
    assert schema.MONTHLY_EMI not in required


def test_the_openapi_schema_states_each_specs_domain() -> None:
    """Gives the built Loan model; expects ranges and closed categories from the specs."""
    properties = loan_model().model_json_schema()["properties"]
    for spec in schema.ALL_SPECS:
        prop = properties[spec.name]
        variants = prop.get("anyOf", [prop])
        typed = next(item for item in variants if item.get("type") != "null")
        if spec.kind is ColumnKind.CATEGORY and spec.other_category is None:
            assert typed["enum"] == list(spec.categories), spec.name
        if spec.kind in (ColumnKind.INTEGER, ColumnKind.NUMBER):
            if spec.minimum is not None:
                key = "exclusiveMinimum" if spec.exclusive_minimum else "minimum"
                assert typed[key] == spec.minimum, spec.name
            ceiling = MAX_INTEGER if spec.kind is ColumnKind.INTEGER else MAX_NUMBER
            assert typed["maximum"] == (spec.maximum if spec.maximum is not None else ceiling)


def test_the_batch_limit_comes_from_settings() -> None:
    """Gives max_batch 3; expects 3 loans accepted by the model and 4 refused."""
    batch = build_schemas(3).batch
    loan = {"Loan_ID": "x"}
    with pytest.raises(ValidationError, match="at most 3"):
        batch.model_validate({"loans": [loan] * 4})
    with pytest.raises(ValidationError) as raised:
        batch.model_validate({"loans": [loan] * 3})
    assert all(error["type"] != "too_long" for error in raised.value.errors())


def test_api_settings_have_defaults_and_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Gives LOAN_RECOVERY_API__PORT and __MAX_BATCH; expects them, defaults elsewhere."""
    monkeypatch.delenv("LOAN_RECOVERY_CONFIG", raising=False)
    monkeypatch.setenv("LOAN_RECOVERY_API__PORT", "9001")
    monkeypatch.setenv("LOAN_RECOVERY_API__MAX_BATCH", "250")
    api = load_settings().api
    assert (api.host, api.port, api.workers, api.max_batch) == ("127.0.0.1", 9001, 1, 250)
    assert api.max_body_bytes >= 2 * 1024 * 1024
    with pytest.raises(ConfigError, match=r"api\.workers"):
        load_settings(api={"workers": 0})


def test_serve_refuses_to_start_without_a_champion(tmp_path: Path) -> None:
    """Gives an empty registry; expects exit code 2 and a message saying to train one."""
    result = runner.invoke(cli.app, ["serve", "--models", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no champion model" in result.output


def test_serve_refuses_an_unmigrated_database(
    api_world: ApiWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives an empty database; expects exit code 2 telling to run `db upgrade`."""
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    result = runner.invoke(cli.app, ["serve", "--models", str(api_world.models_dir)])
    assert result.exit_code == 2
    assert "db upgrade" in result.output


def test_serve_passes_settings_and_options_to_uvicorn(
    api_world: ApiWorld, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gives --port and --workers; expects uvicorn started with the factory and those values."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("LOAN_RECOVERY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LOAN_RECOVERY_API__HOST", "127.0.0.2")
    monkeypatch.setattr(
        "loan_recovery.api.server.run_server", lambda **kwargs: calls.append(kwargs)
    )
    result = runner.invoke(
        cli.app,
        ["serve", "--port", "8123", "--workers", "3", "--models", str(api_world.models_dir)],
    )
    assert result.exit_code == 0, result.output
    (call,) = calls
    assert (call["host"], call["port"], call["workers"]) == ("127.0.0.2", 8123, 3)
    assert call["models_dir"] == api_world.models_dir
    assert api_world.models.version in result.output


def test_serve_refuses_an_unknown_log_level() -> None:
    """Gives --log-level trace; expects a usage error (trace would print every message)."""
    result = runner.invoke(cli.app, ["serve", "--log-level", "trace"])
    assert result.exit_code == 2


def test_the_risk_booster_is_pinned_to_the_configured_threads() -> None:
    """Gives a bundle whose risk model has a booster; expects nthread set to the setting."""
    from types import SimpleNamespace

    from loan_recovery.api.scoring import _pin_threads

    params: dict[str, Any] = {}
    booster = SimpleNamespace(set_param=params.update)
    bundle = SimpleNamespace(risk_model=SimpleNamespace(base_=SimpleNamespace(booster_=booster)))
    _pin_threads(bundle, 1)  # type: ignore[arg-type]
    assert params == {"nthread": 1}
    forest = SimpleNamespace(risk_model=SimpleNamespace(base_=SimpleNamespace()))
    _pin_threads(forest, 1)  # type: ignore[arg-type]  # no booster: nothing to pin
