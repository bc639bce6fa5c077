"""Thin orchestrators over the pipeline; the CLI, API and dashboard call these."""
