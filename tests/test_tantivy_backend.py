"""The embedded tantivy backend: hits built once per product are the same hits, and independent per result."""

from pathlib import Path

from evalharness.backends import make_backend
from evalharness.catalog import product_to_hit
from evalharness.project import Project


def test_hits_equal_the_catalog_products_and_are_independent(project: Path) -> None:
    proj = Project(project)
    backend = make_backend(proj.engine("v2"), proj)
    try:
        first = backend.search("red dress", 10)
        assert len(first) == 10
        for hit in first:
            assert hit == product_to_hit(backend.products[hit.doc_id], hit.rank, hit.score, backend.catalog.parent)
        first[0].attributes["color"] = "changed"
        again = backend.search("red dress", 10)
        assert again[0].doc_id == first[0].doc_id and again[0].attributes.get("color") != "changed"
        assert again == [product_to_hit(backend.products[h.doc_id], h.rank, h.score, backend.catalog.parent) for h in again]
    finally:
        backend.close()
