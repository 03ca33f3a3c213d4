"""Query normalization and file-name slugs."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from evalharness.models import sha256_hex

_WS = re.compile(r"\s+")
_SLUG = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=1 << 16)  # the offline rules and checks normalize the same few values again and again
def normalize_query(text: str) -> str:
    """Unicode NFKC, case-fold, collapse whitespace: the form used for merging and cache keys."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def slugify(text: str, max_len: int = 60) -> str:
    """A readable, file-system-safe slug; a short hash keeps distinct queries distinct."""
    norm = normalize_query(text)
    ascii_text = unicodedata.normalize("NFKD", norm).encode("ascii", "ignore").decode()
    base = _SLUG.sub("-", ascii_text).strip("-")[:max_len].strip("-") or "query"
    return f"{base}-{sha256_hex(norm)[:6]}"
