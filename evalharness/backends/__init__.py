"""Search backends: tantivy (embedded), Elasticsearch, OpenSearch, HTTP, a file of ranked lists."""

from evalharness.backends.base import SearchBackend
from evalharness.backends.registry import make_backend

__all__ = ["SearchBackend", "make_backend"]
