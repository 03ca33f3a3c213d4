"""Turn a search log into a query set: sources, normalization, privacy scrub, strata, UBI event statistics."""
