"""Metrics: ir-measures on graded qrels, per-hit measures and verdict measures."""
