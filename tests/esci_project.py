"""An ESCI project folder for tests: the shared ESCI catalog and queries, three tantivy engine configs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import SHARED_DATA

ESCI = SHARED_DATA / "esci"
ENGINES = {
    "title": '["title"]',
    "brand": '["title", "brand"]',
    "wide": '["title", "brand", "color", "category", "description"]',
}


def make_esci_project(root: Path, n_queries: int | None = None) -> Path:
    """evalharness.toml pointing at ESCI's products, queries/esci.csv (ids as in labels.csv), engines/{title,brand,wide}."""
    root.mkdir(parents=True, exist_ok=True)
    products = ESCI / "products.jsonl"
    (root / "evalharness.toml").write_text(
        f'[guidelines]\nwriter = "offline"\ncatalog = "{products}"\n\n[run]\nqueries = "queries/esci.csv"\ntop_k = 10\n'
        'metrics = ["nDCG@10", "P(rel=2)@10", "Judged@10"]\n\n'
        '[[gate.rules]]\nmetric = "nDCG@10"\nmax_drop = 0.01\nalpha = 0.05\n', encoding="utf-8")
    (root / "engines").mkdir(exist_ok=True)
    for name, fields in ENGINES.items():
        (root / "engines" / f"{name}.toml").write_text(
            f'backend = "tantivy"\n[tantivy]\ncatalog = "{products}"\nfields = {fields}\n', encoding="utf-8")
    (root / "queries").mkdir(exist_ok=True)
    rows = [json.loads(line) for line in (ESCI / "queries.jsonl").open(encoding="utf-8")]
    with (root / "queries" / "esci.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "query", "count", "segment"])
        for q in rows[:n_queries] if n_queries else rows:
            w.writerow([q["id"], q["text"], 1, ""])
    return root
