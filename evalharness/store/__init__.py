"""The SQLAlchemy store: queries, guidelines, runs, run results and the judgment cache."""

from evalharness.store.db import Store, StoredRun
from evalharness.store.keys import content_hash, judgment_cache_key

__all__ = ["Store", "StoredRun", "content_hash", "judgment_cache_key"]
