"""Searchers and trainers that run a search space on data."""
