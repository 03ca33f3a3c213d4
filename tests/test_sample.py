"""The synthetic demo catalog: deterministic, varied, with images, degradations and a Zipf-shaped query log."""

import csv
import json
from collections import Counter
from pathlib import Path

from PIL import Image

from evalharness.sample.generate import generate_products, generate_query_log
from evalharness.sample.vocabulary import DEGRADATIONS, ZERO_RESULT_QUERIES


def test_catalog_has_variety(demo_dir: Path) -> None:
    products = [json.loads(line) for line in (demo_dir / "catalog.jsonl").open()]
    assert len(products) >= 2000
    assert len({p["product_type"] for p in products}) >= 8
    for attr in ("brand", "color", "material", "audience"):
        assert len({p[attr] for p in products}) >= 3, attr
    assert len({p["title"] for p in products}) > 0.5 * len(products)
    assert len({p["description"] for p in products}) > 0.9 * len(products)
    assert all(p["price"] > 0 for p in products)
    degraded = Counter(p["degradation"] for p in products if p["degradation"] != "none")
    assert set(degraded) == set(DEGRADATIONS)
    assert 0.1 < sum(degraded.values()) / len(products) < 0.3


def test_every_product_has_a_256px_png(demo_dir: Path) -> None:
    products = [json.loads(line) for line in (demo_dir / "catalog.jsonl").open()]
    for p in products[:: max(1, len(products) // 50)]:
        with Image.open(demo_dir / p["image"]) as img:
            assert img.format == "PNG" and img.size == (256, 256)


def test_generation_is_deterministic() -> None:
    assert generate_products(300, seed=5) == generate_products(300, seed=5)
    assert generate_products(300, seed=5) != generate_products(300, seed=6)


def test_query_log_shape(demo_dir: Path) -> None:
    rows = [(r["query"], int(r["count"])) for r in csv.DictReader((demo_dir / "querylog.csv").open())]
    queries = [q for q, _ in rows]
    assert len(set(queries)) >= 300
    counts = sorted((c for _, c in rows), reverse=True)
    assert counts[0] > 10 * counts[len(counts) // 2]  # heavy head, long tail
    assert sum(counts[:10]) / sum(counts) > 0.4
    assert any(q in queries for q in ZERO_RESULT_QUERIES)
    assert any(len(q.split()) >= 3 for q in queries)  # attribute combinations
    assert "snekers" in queries  # misspellings
    products = generate_products(300, seed=1)
    assert generate_query_log(products, 1) == generate_query_log(products, 1)
