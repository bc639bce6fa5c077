"""Settings: paths, costs, thresholds and rules, in one typed place.

Values come, in rising order of precedence, from the defaults below, a TOML file
(``--config`` or ``LOAN_RECOVERY_CONFIG``), ``LOAN_RECOVERY_*`` environment variables
(nested with ``__``, e.g. ``LOAN_RECOVERY_SIMULATOR__EPSILON=0.1``) and keyword
arguments. No other module holds a threshold, a cost or a rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from loan_recovery.data import schema
from loan_recovery.exceptions import ConfigError

CONFIG_FILE_ENV = "LOAN_RECOVERY_CONFIG"

CollectionMethod = Literal["Calls", "Settlement Offer", "Legal Notice", "Debt Collectors"]


class ActionConfig(BaseModel):
    """Cost and routing of one recovery action.

    Net recovery of the action = recovered * (1 - ``recovery_share``) - ``fixed_cost``:
    ``recovery_share`` is what the action gives away of the money it brings in (an
    agency's commission, a lawyer's success fee).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    fixed_cost: float = Field(ge=0, description="Cost per loan worked, currency units")
    recovery_share: float = Field(default=0.0, ge=0, lt=1)
    channel: str
    collection_method: CollectionMethod
    description: str = ""


def _default_actions() -> dict[str, ActionConfig]:
    return {
        "reminder": ActionConfig(
            fixed_cost=50,
            channel="sms/email",
            collection_method="Calls",
            description="Automated SMS/email nudge",
        ),
        "call": ActionConfig(
            fixed_cost=600,
            channel="phone",
            collection_method="Calls",
            description="Agent follow-up call",
        ),
        "restructure": ActionConfig(
            fixed_cost=4_000,
            channel="branch",
            collection_method="Settlement Offer",
            description="EMI restructuring: longer tenure, lower instalment",
        ),
        "settlement": ActionConfig(
            fixed_cost=2_000,
            channel="phone",
            collection_method="Settlement Offer",
            description="One-time settlement offer at a discount",
        ),
        "legal": ActionConfig(
            fixed_cost=25_000,
            recovery_share=0.05,
            channel="court",
            collection_method="Legal Notice",
            description="Legal notice and proceedings (SARFAESI / civil suit)",
        ),
        "agency": ActionConfig(
            fixed_cost=3_000,
            recovery_share=0.15,
            channel="field",
            collection_method="Debt Collectors",
            description="External collection agency on commission",
        ),
    }


class ValidationSettings(BaseModel):
    """Limits that decide whether a loan row is believable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_outstanding_to_loan_ratio: float = Field(
        default=3.0,
        gt=0,
        description="Outstanding above this multiple of the loan amount is rejected "
        "(interest and penalties rarely triple a loan).",
    )


class LoggingRuleSettings(BaseModel):
    """The simulated lender's rule of thumb that logs the history (DPD bands, burden cut)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reminder_max_dpd: int = Field(default=30, ge=0, description="DPD <= this: reminder")
    call_max_dpd: int = Field(default=60, ge=0, description="DPD <= this: call")
    offer_max_dpd: int = Field(
        default=90, ge=0, description="DPD <= this: restructure or settlement; above: legal/agency"
    )
    restructure_min_emi_to_income: float = Field(
        default=0.45, ge=0, description="In the offer band, EMI/income above this: restructure"
    )

    @model_validator(mode="after")
    def _bands_ascend(self) -> LoggingRuleSettings:
        if not self.reminder_max_dpd < self.call_max_dpd < self.offer_max_dpd:
            raise ValueError(
                "DPD bands must ascend: reminder_max_dpd < call_max_dpd < offer_max_dpd; got "
                f"{self.reminder_max_dpd}, {self.call_max_dpd}, {self.offer_max_dpd}."
            )
        return self


class SimulatorSettings(BaseModel):
    """Knobs of the synthetic portfolio and its logging policy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    epsilon: float = Field(default=0.2, ge=0, le=1, description="Exploration share")
    horizon_days: int = Field(default=180, gt=0)
    fully_recovered_fraction: float = Field(
        default=0.95,
        gt=0,
        le=1,
        description="Recovered share of the outstanding at or above which a loan is "
        "Fully Recovered.",
    )
    written_off_fraction: float = Field(
        default=0.10,
        ge=0,
        lt=1,
        description="Recovered share below which a loan is Written Off.",
    )
    as_of_date: str = Field(default="2026-06-30", pattern=r"^\d{4}-\d{2}-\d{2}$")
    logging_rule: LoggingRuleSettings = LoggingRuleSettings()

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> SimulatorSettings:
        if self.written_off_fraction >= self.fully_recovered_fraction:
            raise ValueError(
                "written_off_fraction must be below fully_recovered_fraction; got "
                f"{self.written_off_fraction} >= {self.fully_recovered_fraction}."
            )
        return self


class DemoSettings(BaseModel):
    """The seeded demo portfolio that ``make run`` builds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loans: int = Field(default=20_000, gt=0)
    seed: int = 42


class Settings(BaseSettings):
    """Every setting of the system; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="LOAN_RECOVERY_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    var_dir: Path = Path("var")
    actions: dict[str, ActionConfig] = Field(default_factory=_default_actions)
    validation: ValidationSettings = ValidationSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    demo: DemoSettings = DemoSettings()

    @model_validator(mode="after")
    def _known_actions(self) -> Settings:
        unknown = sorted(set(self.actions) - set(schema.ACTION_NAMES))
        if unknown:
            raise ValueError(
                f"unknown action(s) {unknown}; the catalogue knows {list(schema.ACTION_NAMES)}."
            )
        return self

    @field_validator("actions", mode="before")
    @classmethod
    def _merge_onto_default_catalogue(cls, value: Any) -> Any:
        """A file overrides only the actions and fields it names; the rest keep defaults."""
        if not isinstance(value, Mapping):
            return value
        merged: dict[str, Any] = {
            name: action.model_dump() for name, action in _default_actions().items()
        }
        for name, override in value.items():
            if isinstance(override, ActionConfig):
                override = override.model_dump()
            base = merged.get(name, {})
            merged[name] = {**base, **override} if isinstance(override, Mapping) else override
        return merged

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments beat the environment, which beats the TOML file."""
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build settings from defaults, an optional TOML file, the environment and overrides.

    Raises :class:`ConfigError` with every invalid field named, never a pydantic traceback.
    """
    path_text = config_file if config_file is not None else os.environ.get(CONFIG_FILE_ENV)
    settings_cls: type[Settings] = Settings
    if path_text:
        path = Path(path_text)
        if not path.is_file():
            raise ConfigError(f"config file {path} not found.")

        class FileSettings(Settings):
            model_config = SettingsConfigDict(toml_file=path)

        settings_cls = FileSettings
    try:
        return settings_cls(**overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
            for item in error.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
    except ValueError as error:  # malformed TOML
        raise ConfigError(f"cannot read config file {path_text}: {error}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings for long-lived services (API, dashboard); cached once."""
    return load_settings()
