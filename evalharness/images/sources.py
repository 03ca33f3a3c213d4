"""Which images to score: a catalog's (every image of every product), an engine config's catalog, or a run's hits;
and, for products with several images, which one to show first (the hero image)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.catalog.products import iter_products, resolve_catalog
from evalharness.errors import EvalHarnessError
from evalharness.project import Project
from evalharness.store import Store


@dataclass(frozen=True)
class ImageRef:
    """One image of one product: a local path or a URL."""

    product_id: str
    ref: str


def _resolve(image: str, base: Path) -> str:
    if image and "://" not in image and not Path(image).is_absolute():
        return str(base / image)
    return image


def product_images(product: Mapping[str, Any], base: Path) -> list[str]:
    """A product's images in catalog order: `image_url` or `image`, then any list under `images`."""
    found = [str(product.get("image_url") or product.get("image") or "")]
    extra = product.get("images")
    if isinstance(extra, list):
        found += [str(x.get("url") or x.get("path") or "") if isinstance(x, dict) else str(x) for x in extra]
    return list(dict.fromkeys(_resolve(x, base) for x in found if x))


def catalog_images(project: Project, catalog: str) -> list[ImageRef]:
    """Every image of every product of a catalog ('demo' or a JSONL path)."""
    path = resolve_catalog(project, catalog)
    return [ImageRef(str(p["id"]), ref) for p in iter_products(path) for ref in product_images(p, path.parent)]


def engine_catalog(project: Project, engine_name: str) -> str:
    """The catalog an engine config searches (embedded backend only: a cluster's documents are not files here)."""
    engine = project.engine(engine_name)
    if engine.config.tantivy is None:
        raise EvalHarnessError(f"engine config '{engine_name}' uses backend '{engine.config.backend}', whose catalog is not a "
                               "file here; pass --run with one of its runs, or --catalog")
    return engine.config.tantivy.catalog


def run_images(store: Store, run_id: str) -> list[ImageRef]:
    """The images of a stored run's hits, each (product, image) once, in rank order of first appearance."""
    refs = [ImageRef(h.doc_id, h.image_url) for q in store.run_queries(run_id) for h in q.hits if h.image_url]
    return list(dict.fromkeys(refs))


def hero_images(refs: Sequence[ImageRef], scores: Mapping[str, int]) -> dict[str, str]:
    """product id -> its best-scoring image, for products with several scored images (ties: catalog order)."""
    by_product: dict[str, list[str]] = {}
    for r in refs:
        if r.ref in scores:
            by_product.setdefault(r.product_id, []).append(r.ref)
    return {pid: max(images, key=lambda ref: (scores[ref], -images.index(ref)))
            for pid, images in by_product.items() if len(images) > 1}
