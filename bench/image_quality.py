"""Benchmark: how well an image-quality scorer separates clean from degraded photos on the demo catalog.

The demo catalog records one degradation per image (none, blur, dark, off-center, cropped, skewed, noise, tiny).
Every image is scored (offline by default; scores are cached in a throwaway project, so a rerun is quick) and
the ROC AUC of "score is low" for degraded vs clean is computed overall and per kind (scikit-learn), with the
score distribution per kind and how many images of each kind score 2 or less. Not timing-sensitive.
Usage: python bench/image_quality.py [--scorer SPEC] [--prompt guided|generic] [--project DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from evalharness.images.scorers import make_scorer
    from evalharness.images.scoring import score_images
    from evalharness.project import Project
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scorer", default="offline")
    ap.add_argument("--prompt", default=None, choices=["guided", "generic"])
    ap.add_argument("--project", type=Path, default=None, help="A project folder whose [judge] settings an LLM scorer uses.")
    ap.add_argument("--limit", type=int, default=0, help="Score a seeded sample of this many images (0: all).")
    args = ap.parse_args()

    root = args.project or Path(tempfile.mkdtemp(prefix="eh-bench-images-"))
    if args.project is None:  # a throwaway project with the default configuration
        shutil.copy(Path(__file__).resolve().parents[1] / "evalharness.toml", root / "evalharness.toml")
    project = Project(root.resolve())
    demo = ensure_demo_catalog(project.cache_dir)
    products = [json.loads(line) for line in demo.products.read_text().splitlines()]
    if args.limit:
        products = random.Random(7).sample(products, min(args.limit, len(products)))
    refs = {p["id"]: str(demo.root / p["image"]) for p in products}
    store = Store(project.store_url())
    try:
        scorer = make_scorer(args.scorer, project.config, args.prompt)
        outcome = score_images(project, store, scorer, list(refs.values()))
    finally:
        store.close()
    kind = {p["id"]: p["degradation"] for p in products}
    score = {pid: outcome.scores[ref].score for pid, ref in refs.items() if ref in outcome.scores}
    clean = [pid for pid in score if kind[pid] == "none"]
    degraded = [pid for pid in score if kind[pid] != "none"]

    def auc(group: list[str]) -> float:
        return float(roc_auc_score([0] * len(clean) + [1] * len(group), [-score[p] for p in clean + group]))

    per_kind = {}
    for k in sorted({kind[p] for p in degraded}):
        group = [p for p in degraded if kind[p] == k]
        per_kind[k] = {"images": len(group), "auc": round(auc(group), 4), "scoring_2_or_less": sum(score[p] <= 2 for p in group),
                       "scores": dict(sorted(Counter(score[p] for p in group).items()))}
    write_result("image_quality", {
        "scorer": args.scorer, "scorer_id": outcome.scorer_id, "images": len(refs), "failed": len(outcome.failures),
        "clean": {"images": len(clean), "scoring_2_or_less": sum(score[p] <= 2 for p in clean),
                  "scores": dict(sorted(Counter(score[p] for p in clean).items()))},
        "auc_overall": round(auc(degraded), 4), "per_kind": per_kind, "cost_usd": round(outcome.cost_usd, 6),
    })


if __name__ == "__main__":
    main()
