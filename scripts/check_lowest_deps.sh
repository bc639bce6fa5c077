#!/usr/bin/env bash
# Check that the dependency floors in pyproject.toml work: install loan-recovery with the
# LOWEST version that each direct dependency allows (uv's `--resolution lowest-direct`;
# dependencies of dependencies resolve to their newest as usual) into a throwaway venv,
# then, against it: import every module, run the command line, ruff, and the unit tests
# listed below. A floor that is too low fails here, not on a user's machine.
#
#   scripts/check_lowest_deps.sh        # venv in a temporary folder, removed afterwards
#   scripts/check_lowest_deps.sh DIR    # venv in DIR (emptied first, kept afterwards)
#
# Needs only Python 3.11+ and PyPI: uv itself is installed from PyPI into the venv.
# Environment: PYTHON (default python3). Why each floor is what it is and what this
# covers: docs/dependency-floors.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"

# The unit tests run at the lowest versions. CI gives this step about 4 minutes on 2
# cores (next to `make test`'s 11), so it runs what exercises the dependencies and leaves
# out tests that mostly spend time in our own code:
#   - tests/dashboard/test_browser.py: Playwright + Debian's Chromium, a system browser;
#   - the PostgreSQL cases (the `postgresql` parameter of the backend fixtures, dropped by
#     -k below): they need a server, so a developer without one can still run this; the
#     SQLite cases of the same tests run;
#   - heavy training: tests/models/test_risk*.py, tests/test_cli_models.py,
#     tests/test_evaluate_policy.py, tests/simulation/test_nonmonotone_variant.py,
#     tests/strategy/test_evaluate_job.py, tests/dashboard/test_assess_job.py;
#   - the dashboard pages needing their own trained registry (test_assess_page,
#     test_performance_page, test_portfolio_page, test_strategy_lab_page,
#     test_worklist_page: one more ~50 s training); test_alerts_page drives the whole
#     app with AppTest on the small demo instead;
#   - crash, fault-injection and month-long simulations (tests/faults,
#     tests/store/test_store_crash.py, tests/notify/test_notify_sender_crash.py,
#     test_notify_random_contacts.py, test_notify_simulated_month.py), the CLI's demo
#     build (below) and the remaining long files (tests/api/test_api_alerts_contacts.py,
#     test_api_idempotency.py, test_api_logging.py, test_api_actions_final.py,
#     test_api_free_text.py, test_api_backends.py, tests/early_warning/test_ew_*cli.py,
#     tests/strategy/test_plan_equivalence.py, tests/store/test_store_plans.py).
# Kept: config, data validation and contacts, features, models (scorecard via optbinning,
# segments, outcomes, explanations, registry, report), strategy, simulation, early
# warning, notify (SMTP via aiosmtpd), the store on SQLite (SQLAlchemy, Alembic), the API
# contract, auth, scoring and cases through FastAPI's TestClient, fuzzing by schemathesis,
# the HTTP limits on a real uvicorn server, the dashboard through Streamlit's AppTest, and
# the CLI (typer).
TESTS=(
  tests/test_cli.py
  tests/test_cli_profile.py
  tests/test_config.py
  tests/test_docs.py
  tests/test_docs_links.py
  tests/test_examples.py
  tests/test_features.py
  tests/test_finance.py
  tests/test_portfolio.py
  tests/data
  tests/models/test_explain.py
  tests/models/test_metrics.py
  tests/models/test_outcomes.py
  tests/models/test_profile.py
  tests/models/test_registry.py
  tests/models/test_report.py
  tests/models/test_scorecard.py
  tests/models/test_segments.py
  tests/models/test_uplift_learners.py
  tests/strategy/test_actions.py
  tests/strategy/test_bau.py
  tests/strategy/test_evaluate.py
  tests/strategy/test_intervals.py
  tests/strategy/test_policy.py
  tests/strategy/test_rules.py
  tests/strategy/test_safe.py
  tests/strategy/test_uplift_metrics.py
  tests/strategy/test_uplift_plan.py
  tests/simulation/test_logging_policy.py
  tests/simulation/test_potential_outcomes.py
  tests/simulation/test_simulate_portfolio.py
  tests/early_warning/test_ew_alerts.py
  tests/early_warning/test_ew_features.py
  tests/early_warning/test_ew_model.py
  tests/early_warning/test_ew_payment_history.py
  tests/early_warning/test_ew_payment_validation.py
  tests/early_warning/test_ew_store_alerts.py
  tests/notify/test_notify_amount_due.py
  tests/notify/test_notify_failures.py
  tests/notify/test_notify_languages.py
  tests/notify/test_notify_outbox_cli.py
  tests/notify/test_notify_policy.py
  tests/notify/test_notify_remind.py
  tests/notify/test_notify_remind_alerts.py
  tests/notify/test_notify_senders.py
  tests/notify/test_notify_templates.py
  tests/store/test_store_apikeys.py
  tests/store/test_store_cases.py
  tests/store/test_store_idempotency.py
  tests/store/test_store_import.py
  tests/store/test_store_migrations.py
  tests/store/test_store_portfolio_read.py
  tests/store/test_store_queries.py
  tests/store/test_store_reminder_tables.py
  tests/api/test_api_contract.py
  tests/api/test_api_auth.py
  tests/api/test_api_scoring.py
  tests/api/test_api_cases.py
  tests/api/test_api_text_fields.py
  tests/api/test_api_fuzz.py
  tests/api/test_api_limits.py
  tests/dashboard/test_alerts_page.py
  tests/dashboard/test_alerts_view.py
  tests/dashboard/test_charts.py
  tests/dashboard/test_insights.py
  tests/dashboard/test_launch.py
  tests/dashboard/test_worklist_filters.py
)
PYTEST_ARGS=(
  -q -p no:cacheprovider
  -k "not postgresql"
  # A full demo build (~15 s), and a subprocess importing everything again (~10 s).
  --deselect tests/test_cli.py::test_demo_builds_once_then_reuses
  --deselect tests/test_cli.py::test_python_dash_m_runs_the_same_cli
)

# The fuzz test's examples per operation (30 in `make test`): enough here to drive
# schemathesis' and Hypothesis' APIs at their floors; depth is `make test`'s job.
export LOAN_RECOVERY_FUZZ_EXAMPLES="${LOAN_RECOVERY_FUZZ_EXAMPLES:-5}"

log() { echo "check_lowest_deps: $*" >&2; }

if [ $# -ge 1 ]; then
  venv="$1"
  # Emptied first, so refuse anything that is not a venv (or an empty or absent folder).
  if [ -d "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ] && [ -n "$(ls -A "$venv")" ]; then
    log "$venv is a non-empty folder and not a venv; give a new or venv folder"
    exit 2
  fi
  rm -rf "$venv"
else
  venv="$(mktemp -d "${TMPDIR:-/tmp}/loan-recovery-lowest.XXXXXX")"
  trap 'rm -rf "$venv"' EXIT
fi

start=$SECONDS
log "venv $venv"
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check uv
"$venv/bin/uv" pip install --quiet --python "$venv/bin/python" \
  --resolution lowest-direct -e ".[all,docs,test]"
log "installed in $((SECONDS - start)) s"

# The versions the direct dependencies resolved to. One above its floor means the floor
# itself is not what was tested (another requirement holds it up): raise it to match.
"$venv/bin/python" - <<'EOF'
import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

with open("pyproject.toml", "rb") as file:
    project = tomllib.load(file)["project"]
requirements = [
    requirement
    for requirement in project["dependencies"]
    + [text for group in project["optional-dependencies"].values() for text in group]
    if not requirement.startswith(project["name"])  # the extras naming other extras
]


def release(text: str) -> tuple[int, ...]:
    numbers = [int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3]]
    return tuple(numbers + [0] * (3 - len(numbers)))


print(f"{'direct dependency':<20} {'allowed':<12} installed")
for requirement in requirements:
    name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
    allowed = re.sub(r"^\[[^]]*\]", "", requirement[len(name) :]).split(";")[0].strip()
    try:
        installed = version(name)
    except PackageNotFoundError:
        installed = "MISSING"
    floor = re.match(r">=\s*([0-9][0-9.]*)", allowed)
    note = ""
    if installed != "MISSING" and floor and release(installed)[:3] != release(floor.group(1)):
        note = "  (above the floor)"
    print(f"{name:<20} {allowed:<12} {installed}{note}")
EOF

# Every module imports at the lowest versions. Left out: `__main__` (runs the CLI; its two
# lines import `cli`) and the dashboard's entry point (runs a Streamlit app; AppTest runs it
# in tests/dashboard/test_alerts_page.py).
"$venv/bin/python" - <<'EOF'
import importlib
import pkgutil

import loan_recovery

SCRIPTS = {"loan_recovery.__main__", "loan_recovery.dashboard.app"}
names = [
    module.name
    for module in pkgutil.walk_packages(loan_recovery.__path__, "loan_recovery.")
    if module.name not in SCRIPTS
]
for name in names:
    importlib.import_module(name)
print(f"check_lowest_deps: imported {len(names)} modules")
EOF
"$venv/bin/loan-recovery" --help >/dev/null  # typer builds every command's options

"$venv/bin/ruff" check src tests benchmarks
"$venv/bin/ruff" format --check src tests benchmarks

log "set up and checked in $((SECONDS - start)) s; the tests:"
"$venv/bin/python" -m pytest "${PYTEST_ARGS[@]}" "${TESTS[@]}"
