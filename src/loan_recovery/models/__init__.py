"""Trained pieces: risk models, segments, explanations, and the registry that versions them."""
