"""Packaging: the core install leaves out the API, dashboard, PostgreSQL and tuning
stacks, and the lock files pin every declared dependency within its range."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS_ONLY = {"streamlit", "fastapi", "uvicorn", "psycopg", "optuna", "dask", "distributed"}


def _pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text(encoding="utf-8")
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", text, re.M)
    }


def _declared(*groups: str) -> list[Requirement]:
    texts = list(PROJECT["dependencies"])
    for group in groups:
        texts += PROJECT["optional-dependencies"][group]
    return [Requirement(text) for text in texts if not text.startswith(PROJECT["name"])]


def _closure(requirements: list[Requirement]) -> set[str]:
    """Every distribution an install of ``requirements`` pulls in (markers evaluated for
    this interpreter, no extras of theirs unless asked), from installed metadata."""
    seen: set[str] = set()
    pending = [(requirement, frozenset(requirement.extras)) for requirement in requirements]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for text in needs:
            child = Requirement(text)
            wanted = [{**default_environment(), "extra": extra} for extra in extras | {""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in wanted):
                pending.append((child, frozenset(child.extras)))
    return seen


def test_the_core_install_pulls_in_no_extra_stack() -> None:
    pulled = _closure(_declared())
    assert not pulled & EXTRAS_ONLY, sorted(pulled & EXTRAS_ONLY)
    assert {"pandas", "xgboost", "sqlalchemy", "typer"} <= pulled


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        ("run.lock", ("dashboard",)),
        ("test.lock", ("api", "dashboard", "postgres", "tune", "dask", "docs", "test")),
    ],
)
def test_each_lock_pins_every_declared_dependency_within_its_range(
    lock: str, groups: tuple[str, ...]
) -> None:
    pins = _pins(lock)
    for requirement in _declared(*groups):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from {lock}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )


def test_the_run_lock_holds_nothing_the_dashboard_does_not_need() -> None:
    assert not set(_pins("run.lock")) & {"fastapi", "psycopg", "optuna", "distributed"}
