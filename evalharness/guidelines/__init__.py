"""Per-query guidelines: the file store under guidelines/ and the writers that fill it."""
