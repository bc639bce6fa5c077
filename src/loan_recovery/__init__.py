"""loan-recovery: turn a lender's loan data into a recovery plan."""

__version__ = "0.1.0"
