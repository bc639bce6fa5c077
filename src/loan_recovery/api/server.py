"""Running the API under uvicorn: checks first, then N worker processes.

Kept apart from :mod:`loan_recovery.api.app` so the command line can check and start a
server without importing FastAPI and the models into its own process: uvicorn imports
the app factory in each worker, which reads the settings from the environment. Options
the command line was given (config file, model folder) are therefore passed on as the
environment variables settings already read.
"""

from __future__ import annotations

import os
from pathlib import Path

import uvicorn

from loan_recovery.api.logs import log_config
from loan_recovery.config import CONFIG_FILE_ENV, Settings
from loan_recovery.models.registry import ModelRegistry
from loan_recovery.store.db import open_store

#: What uvicorn imports in each worker (called with no arguments: ``factory=True``).
APP_FACTORY = "loan_recovery.api.app:create_app"
MODELS_DIR_ENV = "LOAN_RECOVERY_MODELS_DIR"


def check_serveable(settings: Settings) -> str:
    """Fail before starting when the server could not serve: the champion's version.

    Raises :class:`~loan_recovery.exceptions.ModelNotFoundError` without a champion and the
    store's errors when the database is unreachable or not migrated, each saying what to
    run. (A server started anyway would answer 503 on ``/ready`` until fixed.)
    """
    version = ModelRegistry(settings.registry_dir).resolve()
    open_store(settings).dispose()
    return version


def run_server(
    *,
    host: str,
    port: int,
    workers: int,
    config_file: Path | None = None,
    models_dir: Path | None = None,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve the API until interrupted; blocks. Settings come from the environment."""
    if config_file is not None:
        os.environ[CONFIG_FILE_ENV] = str(Path(config_file).resolve())
    if models_dir is not None:
        os.environ[MODELS_DIR_ENV] = str(Path(models_dir).resolve())
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(log_level, access_log=access_log),
        access_log=access_log,
        server_header=False,
    )
