"""One run of one engine configuration, and judging many pairs."""
