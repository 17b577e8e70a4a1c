"""Datasets: raw sources, the canonical store, imbalance variants and split index files."""
