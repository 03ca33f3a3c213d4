"""Comparing runs: chunks, paired statistics, the Comparison and the gate."""
