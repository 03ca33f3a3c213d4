"""The SearchBackend protocol and the registry keyed by an engine config's `backend`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from evalharness.models import Hit

if TYPE_CHECKING:
    pass

ProgressFn = Callable[[int], None]


def mapped_hit(get: Callable[[str], Any], rank: int, score: float, attributes: dict[str, Any]) -> Hit:
    """A Hit from a mapped search-engine document: `get(field)` returns the raw value of a Hit field."""
    price = get("price")
    return Hit(doc_id=str(get("doc_id")), rank=rank, score=score, title=str(get("title") or ""),
               description=str(get("description") or ""), brand=str(get("brand") or ""), color=str(get("color") or ""),
               category=str(get("category") or ""), price=float(price) if isinstance(price, (int, float)) else None,
               image_url=str(get("image_url") or ""), attributes={k: v for k, v in attributes.items() if v not in (None, "")})


class SearchBackend(ABC):
    """One required method, `search`; `search_many` may batch (msearch) and `index_catalog` may load data."""

    @abstractmethod
    def search(self, query: str, k: int) -> list[Hit]:
        """The top-k hits for one query, ranks starting at 1."""

    def search_many(self, queries: Sequence[str], k: int, progress: ProgressFn | None = None) -> list[list[Hit]]:
        """Hits for many queries, in order; backends override this to batch."""
        out = []
        for q in queries:
            out.append(self.search(q, k))
            if progress:
                progress(1)
        return out

    def describe(self) -> dict[str, str]:
        """Facts about what was searched (index name, catalog hash) stored with the run."""
        return {}

    def close(self) -> None:
        """Release connections."""
