"""The Streamlit dashboard: the lender's window on the same pipeline the CLI runs.

Pages never compute a risk, a value or a rule of their own: they call the jobs and
strategy functions (through :mod:`loan_recovery.dashboard.state`, which caches them) and
draw what comes back.
"""
