"""Image quality: the offline scorer on the demo catalog's recorded degradations, the score cache, VQ@k / LowQ@k."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from conftest import make_project
from sklearn.metrics import roc_auc_score

from evalharness.images.scorers import make_scorer
from evalharness.images.scoring import score_images
from evalharness.project import Project
from evalharness.store import Store


def _products(demo_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (demo_dir / "catalog.jsonl").read_text().splitlines()]


def test_offline_scorer_separates_clean_from_degraded_images(tmp_path: Path, demo_dir: Path) -> None:
    """Done-when 1: ROC AUC >= 0.9 overall and per degradation kind, on a seeded sample of the demo catalog."""
    rng = random.Random(20240917)
    products = _products(demo_dir)
    clean = rng.sample([p for p in products if p["degradation"] == "none"], 60)
    kinds = sorted({p["degradation"] for p in products} - {"none"})
    degraded = [p for k in kinds for p in rng.sample([p for p in products if p["degradation"] == k], 10)]
    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=1))
    store = Store(project.store_url())
    refs = {p["id"]: str(demo_dir / p["image"]) for p in clean + degraded}
    outcome = score_images(project, store, make_scorer("offline", project.config), list(refs.values()))
    assert not outcome.failures and outcome.new == len(set(outcome.hashes.values()))
    score = {pid: outcome.scores[ref].score for pid, ref in refs.items()}
    badness = [-score[p["id"]] for p in clean + degraded]
    overall = roc_auc_score([0] * len(clean) + [1] * len(degraded), badness)
    assert overall >= 0.9, overall
    for kind in kinds:
        group = [p for p in degraded if p["degradation"] == kind]
        auc = roc_auc_score([0] * len(clean) + [1] * len(group), [-score[p["id"]] for p in clean + group])
        assert auc >= 0.9, (kind, auc)
    one = outcome.scores[refs[degraded[0]["id"]]]
    assert 1 <= one.score <= 5 and one.aspects and one.rationale
    store.close()


def test_scores_are_cached_by_image_bytes_and_unreadable_images_fail(tmp_path: Path, demo_dir: Path) -> None:
    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=1))
    store = Store(project.store_url())
    a = demo_dir / "images" / "P00001.png"
    copy = tmp_path / "same-bytes.png"
    copy.write_bytes(a.read_bytes())
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    refs = [str(a), str(copy), str(broken), str(tmp_path / "missing.png")]
    scorer = make_scorer("offline", project.config)
    first = score_images(project, store, scorer, refs)
    assert first.new == 1 and first.scores[str(a)] == first.scores[str(copy)]  # the same bytes scored once
    assert set(first.failures) == {str(broken), str(tmp_path / "missing.png")}
    assert "not a readable image" in first.failures[str(broken)]
    second = score_images(project, store, scorer, refs)
    assert second.new == 0 and second.cached == 1 and second.scores == first.scores
    con = sqlite3.connect(project.root / ".evalharness" / "cache.db")
    assert con.execute("SELECT count(*) FROM image_scores").fetchone()[0] == 1  # failures are never cached
    store.close()


def test_vq_and_lowq_in_a_run_equal_the_cached_scores_of_its_hits(tmp_path: Path, demo_dir: Path) -> None:
    from evalharness.judges import make_judge
    from evalharness.pipeline.run import RunRequest, run_engine
    from evalharness.querylog.querysets import read_query_set
    from evalharness.store.image_scores import get_scores

    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=15))
    store = Store(project.store_url())
    names = ["nDCG@10", "VQ@5", "LowQ@5"]
    req = RunRequest(project.engine("v2"), read_query_set(project.root / "queries" / "demo.csv"), "demo.csv",
                     make_judge("offline", project.config), 10, names, "offline")
    outcome = run_engine(project, store, req)
    scorer_id = make_scorer("offline", project.config).scorer_id
    from evalharness.images.loading import ImageLoader
    from evalharness.images.scoring import hash_images

    for q in store.run_queries(outcome.run_id):
        refs = [h.image_url for h in q.hits[:5]]
        hashes, _ = hash_images(store, ImageLoader(project), refs)
        cached = get_scores(store, list(hashes.values()), scorer_id)
        scores = [cached[hashes[r]].score for r in refs]
        vq = sum(scores) / len(scores) if scores else 0.0
        low = sum(s <= 2 for s in scores) / len(scores) if scores else 0.0
        assert outcome.per_query[q.id]["VQ@5"] == pytest.approx(vq)
        assert outcome.per_query[q.id]["LowQ@5"] == pytest.approx(low)
    assert 1.0 <= outcome.metrics["VQ@5"] <= 5.0
    store.close()


def test_gate_on_lowq_fails_the_config_that_surfaces_poor_photos(tmp_path: Path, demo_dir: Path) -> None:
    """Done-when 3: compare prints VQ@10 and LowQ@10 with CIs and p-values; the LowQ@10 rule fails v2-photos."""
    from conftest import run_cli

    project = make_project(tmp_path / "proj", demo_dir, n_queries=40)
    for engine in ("v2", "v2-photos"):
        assert run_cli(project, "run", "-e", engine).returncode == 0
    data = json.loads(run_cli(project, "compare", "v2", "v2-photos", "--json").stdout)
    metrics = {m["metric"]: m for m in data["metrics"]}
    vq, low = metrics["VQ@10"], metrics["LowQ@10"]
    assert vq["delta"] < 0 < low["delta"]
    for m in (vq, low):
        assert m["ci95"][0] <= m["delta"] <= m["ci95"][1] and 0 <= m["p_randomization"] <= 1
    gate = run_cli(project, "gate", "--baseline", "v2", "--candidate", "v2-photos")
    assert gate.returncode == 1, gate.stderr
    lines = {line.split(" did not regress")[0]: line for line in gate.stdout.splitlines() if "did not regress" in line}
    assert lines["FAIL LowQ@10"] and "pass nDCG@10" in lines
