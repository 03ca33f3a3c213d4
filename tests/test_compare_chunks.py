"""compare scores its queries in chunks (compare_chunk.py), at once in forked workers on the command line: however the
queries are split, the comparison is the same — per-query values, statistics, findings, coverage, the report's labels
and products — also when chunks find pairs never judged and the judge fills them in between."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_project, run_cli

from evalharness.compare.chunk import chunk_bounds
from evalharness.compare.stats import jaccard, rbo


def _compare(root: Path, chunks: int | None, workers: int = 1, for_report: bool = True):  # noqa: ANN202 - a Comparison
    from evalharness.compare.runs import compare_runs, resolve_run
    from evalharness.judges import make_judge
    from evalharness.project import Project
    from evalharness.store import Store

    project = Project(root)
    store = Store(project.store_url())
    try:
        base, cand = resolve_run(store, "v1"), resolve_run(store, "v2")
        return compare_runs(project, store, base, [cand], make_judge("offline", project.config), list(project.config.run.metrics),
                            for_report=for_report, workers=workers, chunks=chunks)
    finally:
        store.close()


def _same(one, two) -> None:  # noqa: ANN001 - two Comparisons
    assert [q.id for q in one.queries] == [q.id for q in two.queries]
    assert [(q.text, q.guideline_hash, q.attrs) for q in one.queries] == [(q.text, q.guideline_hash, q.attrs) for q in two.queries]
    for a, b in zip(one.sides, two.sides):
        assert (a.doc_ids, a.content_hashes, a.labels, a.unjudged, a.judged) == (b.doc_ids, b.content_hashes, b.labels, b.unjudged, b.judged)
        for m in one.metric_names:
            np.testing.assert_array_equal(a.values[m], b.values[m])
    assert [r.test for r in one.rows] == [r.test for r in two.rows]
    assert one.findings == two.findings and one.pool_size == two.pool_size and one.failures == two.failures
    assert one.pool_labels == two.pool_labels and one.products == two.products
    assert set(one.guidelines) == set(two.guidelines) and one.judged_new == two.judged_new
    for a, b in zip(one.candidates, two.candidates):  # overlaps the chunks computed, as the Comparison computes them
        assert one.list_overlap(a) == two.list_overlap(b)
        assert two.list_overlap(b) == ([jaccard(x, y) for x, y in zip(two.baseline.doc_ids, b.doc_ids)],
                                       [rbo(x, y) for x, y in zip(two.baseline.doc_ids, b.doc_ids)])


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    """A project with runs v1 and v2 of 70 queries, a third of their guidelines' judgments deleted again."""
    root = make_project(tmp_path_factory.mktemp("chunks") / "proj", demo_dir, n_queries=70)
    assert run_cli(root, "run", "-e", "v2", "-b", "v1").returncode == 0
    con = sqlite3.connect(root / ".evalharness" / "cache.db")
    hashes = [h for (h,) in con.execute("SELECT DISTINCT guideline_hash FROM judgments ORDER BY guideline_hash")]
    con.executemany("DELETE FROM judgments WHERE guideline_hash = ?", [(h,) for h in hashes[::3]])
    con.commit()
    con.close()
    return root


def test_chunk_bounds_cover_every_query_once() -> None:
    assert chunk_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert chunk_bounds(2, 5) == [(0, 1), (1, 2)] and chunk_bounds(0, 2) == [(0, 0)]
    for n, k in ((1000, 2), (999, 7), (5, 1)):
        bounds = chunk_bounds(n, k)
        assert bounds[0][0] == 0 and bounds[-1][1] == n and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_chunks_give_the_same_comparison_also_when_pairs_are_judged_in_between(judged: Path, tmp_path: Path) -> None:
    copies = []
    for name in ("one", "four"):  # the same store twice: each comparison judges the missing pairs itself
        shutil.copytree(judged, tmp_path / name, symlinks=True)
        copies.append(tmp_path / name)
    one, four = _compare(copies[0], chunks=1), _compare(copies[1], chunks=4)
    assert one.judged_new > 0  # the deleted judgments were missing, found by the chunks and judged
    _same(one, four)
    assert sum(len(f) for f in one.findings.values()) > 0 and one.products
    _same(_compare(copies[0], chunks=1), _compare(copies[1], chunks=3))  # and again, with nothing left to judge


def test_guideline_files_missing_are_written_once_then_their_chunks_scored(judged: Path, tmp_path: Path) -> None:
    from evalharness.guidelines.files import parse_guideline

    root = tmp_path / "proj"
    shutil.copytree(judged, root, symlinks=True)
    deleted = sorted((root / "guidelines").glob("*.md"))[::9]
    for path in deleted:
        path.unlink()
    four = _compare(root, chunks=4)
    assert all(path.is_file() for path in deleted)  # written again by the configured (offline) writer
    files = {parse_guideline(path).hash for path in (root / "guidelines").glob("*.md")}  # the hash of what the judge reads
    assert {q.guideline_hash for q in four.queries} <= files  # scored on the files as they are now
    _same(_compare(root, chunks=1), _compare(root, chunks=4))


FORKED = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_compare_chunks import _compare
from evalharness.runtime.forked import usable_workers
c = _compare(Path({root!r}), chunks=3, workers=2)
print(json.dumps({{"usable": usable_workers(2), "values": {{s.name: {{m: s.values[m].tolist() for m in c.metric_names}} for s in c.sides}},
                  "tests": [[r.test.delta, r.test.ci_low, r.test.ci_high, r.test.p_randomization] for r in c.rows],
                  "findings": {{n: [[f.check, f.query_id, f.detail, f.doc_id, f.rank] for f in fs] for n, fs in c.findings.items()}},
                  "products": len(c.products), "labels": [s.labels for s in c.sides]}}))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2, reason="needs fork and two usable cores")
def test_forked_chunks_give_the_same_comparison(judged: Path, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    shutil.copytree(judged, root, symlinks=True)
    one = _compare(root, chunks=1)  # judges what is missing first: the forked chunks then find nothing to judge
    script = FORKED.format(tests=str(Path(__file__).parent), root=str(root))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["usable"] == 2  # a fresh interpreter has no other thread: the chunks really ran in forked workers
    for side in one.sides:
        for m in one.metric_names:
            np.testing.assert_array_equal(np.array(out["values"][side.name][m], dtype=float), side.values[m])
    assert out["tests"] == [[r.test.delta, r.test.ci_low, r.test.ci_high, r.test.p_randomization] for r in one.rows]
    assert out["findings"] == {n: [[f.check, f.query_id, f.detail, f.doc_id, f.rank] for f in fs] for n, fs in one.findings.items()}
    assert out["products"] == len(one.products) and out["labels"] == [s.labels for s in one.sides]


def test_a_comparisons_worst_images_are_those_of_its_hits(judged: Path, tmp_path: Path) -> None:
    """The report's worst photos per config, from doc ids and content hashes, equal worst_images over a mapping per
    hit (what the report built before, a million mappings at 10k queries)."""
    from evalharness.images.badges import cached_image_scores, worst_images, worst_images_by_content
    from evalharness.project import Project

    root = tmp_path / "proj"
    shutil.copytree(judged, root, symlinks=True)
    c = _compare(root, chunks=1)
    scores = cached_image_scores(Project(root), (str(p.get("image_url") or "") for p in c.products.values()))
    assert len(scores) > 20  # the runs scored their photos (VQ@10 and LowQ@10 are among the metrics)
    for side in c.sides:
        lists = [[{"doc_id": d, **(c.products.get(h) or {})} for d, h in zip(docs, hashes)]
                 for docs, hashes in zip(side.doc_ids, side.content_hashes)]
        expected = worst_images(lists, scores, n=len(scores))
        assert len(expected) > 8 and worst_images_by_content(side.doc_ids, side.content_hashes, c.products, scores,
                                                             n=len(scores)) == expected
