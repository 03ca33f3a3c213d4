"""Search backends: tantivy (embedded), Elasticsearch, OpenSearch, HTTP."""

from evalharness.backends.base import SearchBackend, make_backend

__all__ = ["SearchBackend", "make_backend"]
