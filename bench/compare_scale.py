"""Benchmark: `compare --json` and `compare --html` of two fully judged runs at 1k, 3k and 10k queries x top-50.

For each size a throwaway project is generated on the demo catalog: one guideline file per query
(recorded in the store with its file hash, as `run` records them), two finished runs of top-50 lists that overlap partly,
and an offline judgment for every (query, hit) of both, so nothing is left to judge. Then the real CLI
is timed in a child process: wall time, CPU time (user + system, workers included) and peak RSS (from wait4: the
largest process; and the process tree's summed RSS, sampled), and the report's size; `--html` is run twice (the
second reuses the thumbnails cached on disk). A new project's first compare also scores its images once and is
timed apart, so `json` is the fully cached figure. With --keep, a project already built there is reused (and the demo
catalog its hits point into is kept there too; the report must embed thumbnails, or the run stops).
`--json` runs as users run it (forking a worker per idle core) and in one process (`[compare] workers = 1`), each
`--repeat` times (median of CPU).
Usage: python bench/compare_scale.py [--sizes 1000 3000 10000] [--k 50] [--keep DIR] [--repeat 3]
Results: bench/results/compare_scale.json (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import own_rss_mb, run_child, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LABELS = ("relevant", "substitute", "irrelevant")


def build_project(root: Path, n_queries: int, k: int, seed: int = 7, demo_dir: Path | None = None) -> Path:
    """A project with two finished, fully judged runs ('base' and 'cand') of n_queries x k hits.

    demo_dir: an already generated demo catalog to link instead of generating one into the project.
    """
    from sqlalchemy import insert

    from evalharness.catalog.products import iter_products, product_to_hit
    from evalharness.guidelines.files import write_guideline
    from evalharness.judges import make_judge
    from evalharness.models import Guideline, Requirement
    from evalharness.project import Project
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store, content_hash, judgment_cache_key
    from evalharness.store.db import StoredQuery, utcnow
    from evalharness.store.tables import guidelines_t, judgments_t

    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "evalharness.toml", root / "evalharness.toml")
    shutil.copytree(REPO / "engines", root / "engines", dirs_exist_ok=True)
    (root / "queries").mkdir(exist_ok=True)
    if demo_dir is not None and not (root / ".evalharness" / "demo").exists():
        (root / ".evalharness").mkdir(exist_ok=True)
        (root / ".evalharness" / "demo").symlink_to(demo_dir, target_is_directory=True)
    project = Project(root)
    demo = ensure_demo_catalog(project.cache_dir)
    products = list(iter_products(demo.products))
    judge = make_judge("offline", project.config)
    store = Store(project.store_url())
    try:
        guidelines, queries = [], []
        for i in range(n_queries):
            text = f"{rng.choice(products)['title'].split()[-1].lower()} query {i}"
            g = write_guideline(project.guidelines_dir, Guideline(text, (Requirement("product_type", text.split()[0], "must"),),
                                                                  f"Relevant: {text}.", "offline"))
            guidelines.append(g)
            count = max(1, int(10_000 / (i + 1)))
            queries.append((f"q{i:05d}", text, count, "head" if i < n_queries * 0.02 else "torso" if i < n_queries * 0.2 else "tail"))
        with store.engine.begin() as conn:  # recorded as `run` records them, in one transaction
            conn.execute(insert(guidelines_t), [{"hash": g.hash, "query": g.query, "path": g.path, "writer": g.writer,
                                                 "model": g.model, "requirements": [r.__dict__ for r in g.requirements],
                                                 "text": g.text, "file_hash": g.file_hash, "created_at": utcnow()}
                                                for g in {g.hash: g for g in guidelines}.values()])
        base_lists = [rng.sample(range(len(products)), k) for _ in range(n_queries)]
        cand_lists = [[p if rng.random() < 0.7 else rng.randrange(len(products)) for p in lst] for lst in base_lists]
        judged: dict[str, dict] = {}
        for name, lists in (("base", base_lists), ("cand", cand_lists)):
            stored = []
            for (qid, text, count, segment), g, lst in zip(queries, guidelines, lists):
                hits, hashes, seen = [], [], set()
                for rank, p in enumerate(lst, 1):
                    if p in seen:
                        continue
                    seen.add(p)
                    hit = product_to_hit(products[p], len(hits) + 1, float(k - rank), demo.root)
                    chash = content_hash(hit)
                    hits.append(hit)
                    hashes.append(chash)
                    key = judgment_cache_key(text, chash, g.hash, judge.judge_id)
                    judged.setdefault(key, {"cache_key": key, "judge_id": judge.judge_id, "query": text, "doc_id": hit.doc_id,
                                            "content_hash": chash, "guideline_hash": g.hash, "label": rng.choice(LABELS),
                                            "rationale": f"rule {rng.randrange(40)}", "input_tokens": 0, "output_tokens": 0,
                                            "cost_usd": 0.0, "latency_ms": 0.0, "created_at": utcnow(), "details": None})
                stored.append(StoredQuery(qid, text, count, segment, g.hash, hits, hashes))
            run_id = f"{name}-bench"
            store.start_run({"run_id": run_id, "engine_config": name, "config_hash": f"{name:0>16}"[:16],
                             "config": {"engine": {"description": f"{name} (synthetic)"}, "catalog": "demo"},
                             "judge_id": judge.judge_id, "top_k": k, "queries_source": "bench"})
            store.save_results(run_id, stored)
            store.finish_run(run_id, "finished", {}, {"queries": n_queries}, 0.0, 0.0)
        rows = list(judged.values())
        with store.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                conn.execute(insert(judgments_t), rows[start:start + 5000])
    finally:
        store.close()
    return root


def _tree_rss_mb(pid: int) -> tuple[float, int]:
    """Resident MB of a process and all its descendants, summed (forked workers share pages, so this overcounts), and
    how many processes the tree holds."""
    total, todo, seen = 0, [pid], 0
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            seen += 1
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue  # the process ended between two reads
    return total / 1024, seen


def median_of(runs: list[dict[str, float]]) -> dict[str, Any]:
    """The run of median CPU among repeated runs (every run kept beside it): this VM's speed moves by ~10 % within
    minutes."""
    middle = sorted(runs, key=lambda r: r["cpu_s"])[len(runs) // 2]
    return {**middle, "runs": runs}


@contextmanager
def compare_workers(root: Path, workers: int) -> Iterator[None]:
    """The project's `[compare] workers` set while the block runs (its evalharness.toml restored after)."""
    config = root / "evalharness.toml"
    text = config.read_text(encoding="utf-8")
    line = f"workers = {workers}\n"
    config.write_text(text.replace("[compare]\n", f"[compare]\n{line}", 1) if "[compare]\n" in text
                      else f"{text.rstrip()}\n\n[compare]\n{line}", encoding="utf-8")
    try:
        yield
    finally:
        config.write_text(text, encoding="utf-8")


def timed(args: list[str]) -> dict[str, float]:
    """Run a command in a child process: wall seconds, CPU seconds (it and its workers) and peak RSS in MB, both of the
    largest single process (wait4) and of the whole process tree summed (sampled every 20 ms)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_tree, processes = [0.0], [1]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, seen = _tree_rss_mb(proc.pid)
            peak_tree[0], processes[0] = max(peak_tree[0], rss), max(processes[0], seen)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {stderr.strip()[-500:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "peak_tree_rss_mb": round(peak_tree[0], 1),
            "processes": processes[0]}  # the compare and the workers it forked (seen at once)


def ensure_demo(cache: Path) -> Path:
    from evalharness.sample import ensure_demo_catalog

    return ensure_demo_catalog(cache).root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10_000])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--keep", type=Path, default=None, help="Build the projects here and keep them.")
    parser.add_argument("--repeat", type=int, default=3, help="times each compare --json is run (the median is the figure)")
    parser.add_argument("--worker", nargs=2, metavar=("ROOT", "DEMO"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:  # the project build, in its own process: this (measuring) parent stays small, see _common
        build_project(Path(args.worker[0]), args.sizes[0], args.k, demo_dir=ensure_demo(Path(args.worker[1])))
        return
    cli = [sys.executable, "-m", "evalharness"]
    results = []
    # With --keep the demo catalog is kept too: the projects' hits point into it (a missing catalog would leave the
    # reports without thumbnails and VQ/LowQ without scores, and the figures would flatter).
    demo_cache = args.keep / ".demo-cache" if args.keep else Path(tempfile.mkdtemp(prefix="eh-compare-scale-demo-"))
    run_child([sys.executable, "-c", "import sys; from evalharness.sample import ensure_demo_catalog; "
               "ensure_demo_catalog(__import__('pathlib').Path(sys.argv[1]))", str(demo_cache)])
    demo_dir = demo_cache / "demo"
    for n in args.sizes:
        base = args.keep or Path(tempfile.mkdtemp(prefix="eh-compare-scale-"))
        root = base / f"q{n}"
        t0 = time.perf_counter()
        reused = args.keep is not None and (root / ".evalharness" / "cache.db").exists()
        if not reused:
            run_child([sys.executable, __file__, "--sizes", str(n), "--k", str(args.k), "--worker", str(root), str(demo_cache)])
        link = root / ".evalharness" / "demo"
        if link.is_symlink() and link.resolve() != demo_dir.resolve():  # a kept project whose catalog moved
            link.unlink()
            link.symlink_to(demo_dir, target_is_directory=True)
        built = time.perf_counter() - t0
        report = root / "reports" / "scale.html"
        row = {"queries": n, "k": args.k, "build_s": round(built, 1), "reused_project": reused, "launcher_rss_mb": own_rss_mb()}
        # the first compare of a project (or of a kept one whose catalog moved) also scores its images (VQ@k, LowQ@k)
        # once: timed apart
        row["json_scoring_images" if not reused else "json_warmup"] = timed([*cli, "-C", str(root), "compare", "base", "cand", "--json"])
        compare_json = [*cli, "-C", str(root), "compare", "base", "cand", "--json"]
        row["json"] = median_of([timed(compare_json) for _ in range(args.repeat)])  # as users run it
        with compare_workers(root, 1):  # and in one process: the least CPU (a forked worker trades CPU for wall)
            row["json_one_process"] = median_of([timed(compare_json) for _ in range(args.repeat)])
        shutil.rmtree(root / ".evalharness" / "thumbs", ignore_errors=True)  # the first report encodes every thumbnail
        row["html_first"] = timed([*cli, "-C", str(root), "compare", "base", "cand", "--json", "--html", str(report)])
        row["html_second"] = timed([*cli, "-C", str(root), "compare", "base", "cand", "--json", "--html", str(report)])
        row["report_mb"] = round(report.stat().st_size / 1e6, 2)
        row["report_thumbnails"] = report.read_text(encoding="utf-8").count("data:image/jpeg;base64,")
        if not row["report_thumbnails"]:
            raise SystemExit(f"the {n}-query report embeds no thumbnail: the catalog's images are missing ({demo_dir})")
        results.append(row)
        print(row, flush=True)
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    if args.keep is None:
        shutil.rmtree(demo_cache, ignore_errors=True)
    write_result("compare_scale", {"runs": results, "targets": {"json_10k_s": 10, "json_10k_cpu_s": 5, "json_10k_rss_mb": 1536, "html_10k_s": 15,
                                                                 "report_10k_mb": 40}})


if __name__ == "__main__":
    main()
