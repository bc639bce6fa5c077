"""Loading, validating and simulating the canonical loan table."""
