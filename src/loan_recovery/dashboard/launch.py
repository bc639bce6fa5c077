"""Start the dashboard: the ``streamlit run`` command line and environment, then the server.

Options reach the Streamlit process through the environment variables settings already
read (``LOAN_RECOVERY_MODELS_DIR``, ``LOAN_RECOVERY_DASHBOARD__DATA_FILE``,
``LOAN_RECOVERY_CONFIG``), so the app loads settings the one way every command does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from loan_recovery.config import CONFIG_FILE_ENV, Settings
from loan_recovery.exceptions import DataFileError, ModelNotFoundError
from loan_recovery.models.registry import ModelRegistry

APP_PATH = Path(__file__).resolve().parent / "app.py"


@dataclass(frozen=True)
class DashboardCommand:
    """What to run and with which environment; ``url`` is what to open in a browser."""

    argv: list[str]
    env: dict[str, str]
    url: str


def dashboard_command(
    settings: Settings,
    *,
    config_file: Path | None = None,
    models_dir: Path | None = None,
    data_file: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    base_env: Mapping[str, str] | None = None,
) -> DashboardCommand:
    """The Streamlit command line for these options (headless, no usage statistics)."""
    address = host or settings.dashboard.host
    chosen_port = port or settings.dashboard.port
    env = dict(os.environ if base_env is None else base_env)
    if config_file is not None:
        env[CONFIG_FILE_ENV] = str(Path(config_file).resolve())
    if models_dir is not None:
        env["LOAN_RECOVERY_MODELS_DIR"] = str(Path(models_dir).resolve())
    if data_file is not None:
        env["LOAN_RECOVERY_DASHBOARD__DATA_FILE"] = str(Path(data_file).resolve())
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        address,
        "--server.port",
        str(chosen_port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
    ]
    return DashboardCommand(argv=argv, env=env, url=f"http://{address}:{chosen_port}")


def check_ready(settings: Settings, data_file: Path | None) -> None:
    """Fail before starting a server that could only show errors: no champion, no data."""
    registry = ModelRegistry(settings.registry_dir)
    if registry.champion() is None:
        raise ModelNotFoundError(
            f"no champion model in {settings.registry_dir}; run `loan-recovery demo` "
            "(or `loan-recovery train FILE --promote`) first."
        )
    if data_file is not None and not Path(data_file).is_file():
        raise DataFileError(f"data file {data_file} not found.")


def run_dashboard(command: DashboardCommand) -> int:
    """Run Streamlit in the foreground until it stops (Ctrl+C); its exit code."""
    try:
        return subprocess.call(command.argv, env=command.env)
    except KeyboardInterrupt:
        return 0
