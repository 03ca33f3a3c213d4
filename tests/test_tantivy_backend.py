"""The embedded tantivy backend: hits built once per product are the same hits, and independent per result; a
product read back from the index is the catalog's."""

import json
from pathlib import Path

from evalharness.backends import make_backend
from evalharness.catalog.products import product_to_hit
from evalharness.project import Project


def test_hits_equal_the_catalog_products_and_are_independent(project: Path) -> None:
    proj = Project(project)
    backend = make_backend(proj.engine("v2"), proj)
    try:
        catalog = {p["id"]: p for p in map(json.loads, backend.catalog.read_text().splitlines()) if p}
        first = backend.search("red dress", 10)
        assert len(first) == 10
        for hit in first:
            assert backend.product(hit.doc_id) == catalog[hit.doc_id]
            assert hit == product_to_hit(catalog[hit.doc_id], hit.rank, hit.score, backend.catalog.parent)
        first[0].attributes["color"] = "changed"
        again = backend.search("red dress", 10)
        assert again[0].doc_id == first[0].doc_id and again[0].attributes.get("color") != "changed"
        assert again == [product_to_hit(catalog[h.doc_id], h.rank, h.score, backend.catalog.parent) for h in again]
    finally:
        backend.close()


def test_a_changed_catalog_is_searched_as_changed_in_the_same_process(project: Path) -> None:
    """Backends of one process share a catalog's products only while its content is the same."""
    import json

    demo = (project / ".evalharness" / "demo" / "catalog.jsonl").read_text().splitlines()[:40]
    catalog = project / "small.jsonl"
    catalog.write_text("\n".join(demo) + "\n")
    (project / "engines" / "small.toml").write_text('backend = "tantivy"\n[tantivy]\ncatalog = "small.jsonl"\n'
                                                    'fields = ["title"]\n')
    proj = Project(project)
    first_product = json.loads(demo[0])
    query = first_product["title"]

    def top() -> object:
        backend = make_backend(proj.engine("small"), proj)
        try:
            return backend.search(query, 3)[0]
        finally:
            backend.close()

    before = top()
    assert before.doc_id == first_product["id"] and before.title == first_product["title"]
    assert top() == before
    changed = {**first_product, "title": first_product["title"] + " Deluxe", "color": "violet"}
    catalog.write_text("\n".join([json.dumps(changed), *demo[1:]]) + "\n")
    after = top()
    assert after.doc_id == first_product["id"] and after.title == changed["title"]
    assert after.color == "violet"
