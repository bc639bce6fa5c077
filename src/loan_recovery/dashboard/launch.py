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
    payments_file: Path | None = None,
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
    if payments_file is not None:
        env["LOAN_RECOVERY_DASHBOARD__PAYMENTS_FILE"] = str(Path(payments_file).resolve())
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


def check_ready(
    settings: Settings, data_file: Path | None, payments_file: Path | None = None
) -> None:
    """Fail before starting a server that could only show errors: no champion, no data."""
    registry = ModelRegistry(settings.registry_dir)
    if registry.champion() is None:
        raise ModelNotFoundError(
            f"no champion model in {settings.registry_dir}; run `loan-recovery demo` "
            "(or `loan-recovery train FILE --promote`) first."
        )
    for kind, path in (("data", data_file), ("payments", payments_file)):
        if path is not None and not Path(path).is_file():
            raise DataFileError(f"{kind} file {path} not found.")


def run_dashboard(command: DashboardCommand) -> int:
    """Run Streamlit in the foreground until it stops (Ctrl+C); its exit code."""
    try:
        return subprocess.call(command.argv, env=command.env)
    except KeyboardInterrupt:
        return 0


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for tests and scripts that start a server)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes] | None = None, timeout: float = 90.0
) -> None:
    """Poll Streamlit's health endpoint until it answers ``ok``; raise if it never does."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the dashboard exited with code {process.returncode}.")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"the dashboard at {url} did not answer within {timeout:.0f} s.")


def start_in_background(
    command: DashboardCommand, log_path: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start the server without waiting (tests, screenshots); the caller terminates it."""
    log = open(log_path, "wb") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(command.argv, env=command.env, stdout=log, stderr=subprocess.STDOUT)
