"""``python -m loan_recovery`` runs the same command line as ``loan-recovery``."""

from loan_recovery.cli import app

app(prog_name="loan-recovery")
