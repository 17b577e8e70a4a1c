"""Reporting: the per-round table, the statistics drawn from it, the paper's figures and
tables, and provenance."""
