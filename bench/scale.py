"""Benchmark: the judge path at the scale of the studies (100,000 pairs).

(a) online: 100,000 distinct pairs streamed through prompt -> openai SDK -> parse -> grouped writes, against
    tests/llmserver.py at 1,000 ms latency with 256 in flight (ideal 256 pairs/s): pairs/s, ratio to the ideal,
    harness CPU ms per judgment; the same at 10,000 pairs; each size in its own process, so peak RSS at 10k vs
    100k shows whether memory stays flat (target ratio <= 1.5);
(b) the fully cached re-run of 100,000 pairs end to end (`evalharness run` over 5,000 generated queries x top
    20 on the embedded engine, after an offline fill of the cache): wall seconds (target < 60 s) and peak RSS;
(c) 4 concurrent `evalharness run` processes with an openai judge on one fresh PostgreSQL store: paid calls
    (requests the server counted) against distinct pairs (target: equal).
Each part is one function `part(args, cache, tmp) -> dict` listed in PARTS, run in that order and skipped with
--skip NAME. The provider batch path (time to write and submit the batch files, to ingest the results, memory at
10k vs 100k pairs) is bench/batch_scale.py. Every part's result records the load average at its end.

Usage: python bench/scale.py [--pairs 100000] [--small-pairs 10000] [--latency 1.0] [--concurrency 256]
                             [--queries 10000] [--runner-queries 200] [--runners 4] [--skip online,cached_rerun,...]
Run it on a quiet machine; JSON goes to bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALHARNESS, figures, own_rss_mb, run_child, server_requests, start_llm_server, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-bench-scale"


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


# -- (a) online, in a worker process per size -------------------------------------------------------
def stream_pairs(n: int, judge, demo):
    """n distinct pairs, built one at a time (query i mod Q x product i div Q): nothing is held but the catalog."""
    from evalharness.catalog.products import iter_products, product_to_hit
    from evalharness.judges.base import JudgeRequest
    from evalharness.models import Guideline, Query, Requirement
    from evalharness.pipeline.judging import Pair
    from evalharness.store import content_hash, judgment_cache_key

    hits = [product_to_hit(p, 1, 1.0, demo.root) for p in iter_products(demo.products)]
    hashes = [content_hash(h) for h in hits]
    texts = [line.split(",")[0] for line in demo.query_log.read_text().splitlines()[1:]]
    queries = [(Query(f"q{i}", q), Guideline(q, (Requirement("product_type", q.split()[-1], "must"),), f"Relevant: {q}.",
                                             "offline", hash=f"{i:064d}")) for i, q in enumerate(texts)]
    if n > len(queries) * len(hits):
        raise SystemExit(f"at most {len(queries) * len(hits)} distinct pairs from the demo catalog")
    for i in range(n):
        (query, g), p = queries[i % len(queries)], (i // len(queries)) % len(hits)
        yield Pair(judgment_cache_key(query.text, hashes[p], g.hash, judge.judge_id), JudgeRequest(query, g, hits[p]), hashes[p])


def online_worker(args: argparse.Namespace) -> None:
    from evalharness.config import ProjectConfig
    from evalharness.judges.llm import LLMJudge
    from evalharness.pipeline.judging import judge_pairs
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store

    os.environ["EH_BENCH_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp:
        demo = ensure_demo_catalog(Path(args.cache))
        cfg = ProjectConfig.model_validate({"judge": {"api_key_env": "EH_BENCH_KEY", "base_url": f"{args.url}/v1",
                                                      "max_concurrency": args.concurrency, "timeout_s": 60}})
        judge = LLMJudge("openai", "bench-scale", cfg)
        store = Store(f"sqlite:///{tmp}/online.db")
        rss0 = peak_rss_mb()
        cpu0, t0 = time.process_time(), time.perf_counter()
        outcome = judge_pairs(judge, store, stream_pairs(args.pairs, judge, demo))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        stored = store.count_judgments()
        store.close()
    ideal = args.concurrency / args.latency
    print(json.dumps({"pairs": args.pairs, "judged": outcome.new, "failed": len(outcome.failures), "stored": stored,
                      "wall_s": round(wall, 1), "pairs_per_s": round(args.pairs / wall, 1), "ideal_pairs_per_s": ideal,
                      "ratio_to_ideal": round(args.pairs / wall / ideal, 3), "cpu_ms_per_judgment": round(cpu * 1000 / args.pairs, 3),
                      "rss_before_judging_mb": rss0, "peak_rss_mb": peak_rss_mb()}), flush=True)


def online(args: argparse.Namespace, cache: Path, tmp: Path) -> dict:
    proc, url = start_llm_server(KEY, args.latency)
    try:
        sizes = {}
        for n in (args.small_pairs, args.pairs):
            cmd = [sys.executable, __file__, "--worker", "online", "--pairs", str(n), "--url", url, "--cache", str(cache),
                   "--latency", str(args.latency), "--concurrency", str(args.concurrency)]
            sizes[str(n)] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            print(json.dumps({"online": sizes[str(n)]}), flush=True)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    small, big = sizes[str(args.small_pairs)], sizes[str(args.pairs)]
    return {"latency_ms": int(args.latency * 1000), "concurrency": args.concurrency, "sizes": sizes,
            "peak_rss_ratio_big_to_small": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3), "target_rss_ratio": 1.5,
            "target_ratio_to_ideal": 0.85}


# -- (b) fully cached re-run end to end --------------------------------------------------------------
def generated_queries(catalog: Path, n: int) -> list[str]:
    """n distinct query texts from the catalog's titles (2- and 3-word runs), then attribute combinations."""
    from evalharness.catalog.products import iter_products

    products = list(iter_products(catalog))
    seen: dict[str, None] = {}
    for p in products:
        words = str(p["title"]).lower().split()
        for size in (2, 3):
            for i in range(len(words) - size + 1):
                seen.setdefault(" ".join(words[i:i + size]))
    for p in products:
        for combo in ((p.get("color"), p.get("product_type")), (p.get("brand"), p.get("product_type")),
                      (p.get("color"), p.get("material"), p.get("product_type")), (p.get("audience"), p.get("product_type"))):
            seen.setdefault(" ".join(str(x).lower() for x in combo if x))
    texts = list(seen)
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} distinct generated queries; ask for fewer")
    return texts[:n]


def make_project(root: Path, cache: Path, queries: list[str]) -> Path:
    root.mkdir(parents=True)
    shutil.copy(REPO / "evalharness.toml", root / "evalharness.toml")
    shutil.copytree(REPO / "engines", root / "engines")
    (root / "queries").mkdir()
    with (root / "queries" / "demo.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "query", "count", "segment"])
        for i, q in enumerate(queries):
            w.writerow([f"g{i:05d}", q, 1, "tail"])
    (root / ".evalharness").mkdir()
    (root / ".evalharness" / "demo").symlink_to(cache / "demo", target_is_directory=True)
    return root


def evalharness(project: Path, *args: str, env: dict | None = None) -> tuple[dict, float]:
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "evalharness", "-C", str(project), *args, "--json"], capture_output=True,
                            text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"evalharness {' '.join(args)} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout), wall


def timed_run(project: Path, top_k: int) -> dict:
    """`evalharness run -e v2` in a child: wall, CPU (user + sys), its own peak RSS and the run's counts."""
    child = run_child([*EVALHARNESS, "-C", str(project), "run", "-e", "v2", "--top-k", str(top_k), "--json"])
    return {**figures(child), "counts": json.loads(child["stdout"])["counts"]}


def prepare_worker(args: argparse.Namespace) -> None:
    """A project of --queries generated queries on the demo catalog (in a child: the measuring parent stays small)."""
    from evalharness.sample import ensure_demo_catalog

    demo = ensure_demo_catalog(Path(args.cache))
    make_project(Path(args.root), Path(args.cache), generated_queries(demo.products, args.queries))


def cached_rerun(args: argparse.Namespace, cache: Path, tmp: Path) -> dict:
    """The first run (offline judge fills the cache) and the fully cached rerun at --small-queries and --queries x
    --top-k: CPU, wall and each run's own peak RSS, and the RSS ratio of the large size to the small one."""
    sizes = {}
    for n in (args.small_queries, args.queries):
        root = tmp / f"cached-{n}"
        run_child([sys.executable, __file__, "--worker", "prepare", "--cache", str(cache), "--root", str(root), "--queries", str(n)])
        first, again = timed_run(root, args.top_k), timed_run(root, args.top_k)
        sizes[str(first["counts"]["hits"])] = {"queries": n, "first": first, "cached": again}
        print(json.dumps({"cached_rerun": {n: {k: (v if k != "counts" else v["judged_cached"]) for k, v in again.items()}}}), flush=True)
    small, big = (sizes[k] for k in sorted(sizes, key=int))
    return {"top_k": args.top_k, "sizes": sizes, "launcher_rss_mb": own_rss_mb(),
            "rss_ratio_first": round(big["first"]["peak_rss_mb"] / small["first"]["peak_rss_mb"], 3),
            "rss_ratio_cached": round(big["cached"]["peak_rss_mb"] / small["cached"]["peak_rss_mb"], 3),
            "cached_cpu_s_large": big["cached"]["cpu_s"], "target_cached_cpu_s": 5, "target_rss_ratio": 1.15}


# -- (c) concurrent runners on PostgreSQL --------------------------------------------------------------
def start_postgres() -> tuple[list[str], Path, str] | None:
    def find(name: str) -> str | None:
        found = shutil.which(name)
        candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
        return found or (str(candidates[-1]) if candidates else None)

    initdb, pg_ctl = find("initdb"), find("pg_ctl")
    if not initdb or not pg_ctl:
        return None
    data = Path(tempfile.mkdtemp(prefix="evalharness-bench-pg-"))  # its own folder: the postgres user must reach it
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*prefix, initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    return [*prefix, pg_ctl, "-D", str(data / "db")], data, f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


def runners(args: argparse.Namespace, cache: Path, tmp: Path) -> dict:
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store

    started = start_postgres()
    if started is None:
        return {"skipped": "PostgreSQL server binaries not installed (apt-get install postgresql)"}
    pg_ctl, pg_data, url = started
    proc, llm_url = start_llm_server(KEY, 0.2)
    try:
        demo = ensure_demo_catalog(cache)
        project = make_project(tmp / "runners", cache, generated_queries(demo.products, args.runner_queries))
        evalharness(project, "run", "-e", "v2", "--top-k", "10")  # index and guideline files, on the project's SQLite store
        cfg = project / "evalharness.toml"
        text = cfg.read_text().replace('url = "sqlite:///.evalharness/cache.db"', f'url = "{url}"')
        text = text.replace('api_key_env = ""', 'api_key_env = "EH_BENCH_KEY"').replace('base_url = ""', f'base_url = "{llm_url}/v1"')
        cfg.write_text(text.replace("max_concurrency = 16", "max_concurrency = 64"))
        env = {**os.environ, "EH_BENCH_KEY": KEY}
        cmd = [sys.executable, "-m", "evalharness", "-C", str(project), "run", "-e", "v2", "--top-k", "10", "--judge",
               "openai:bench-runners", "--json"]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(args.runners)]
        outs = [p.communicate() for p in procs]
        wall = time.perf_counter() - t0
        codes = [p.returncode for p in procs]
        counts = [json.loads(o)["counts"] if code == 0 else {"error": e[-500:]} for (o, e), code in zip(outs, codes)]
        store = Store(url)
        distinct = store.count_judgments()
        store.close()
        paid = server_requests(llm_url)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(pg_data, ignore_errors=True)
    return {"runners": args.runners, "pairs_per_runner": counts[0].get("hits"), "distinct_pairs_judged": distinct,
            "paid_calls": paid, "exit_codes": codes, "wall_s": round(wall, 1), "per_runner": counts,
            "target": "paid_calls == distinct_pairs_judged"}


# The parts, in the order they run: name -> function(args, demo cache, temporary folder) -> figures.
PARTS = {"online": online, "cached_rerun": cached_rerun, "concurrent_runners": runners}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--small-pairs", type=int, default=10_000)
    ap.add_argument("--latency", type=float, default=1.0)
    ap.add_argument("--concurrency", type=int, default=256)
    # the demo catalog yields about 7,500 distinct generated queries: 5,000 x top 20 = 100,000 pairs
    ap.add_argument("--queries", type=int, default=5_000, help="queries of the cached re-run (x --top-k = pairs)")
    ap.add_argument("--small-queries", type=int, default=500, help="queries of the cached re-run's small size (RSS ratio)")
    ap.add_argument("--top-k", type=int, default=20, help="hits per query of the cached re-run")
    ap.add_argument("--runner-queries", type=int, default=200)
    ap.add_argument("--runners", type=int, default=4)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: " + ", ".join(PARTS))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "online":
        return online_worker(args)
    if args.worker == "prepare":
        return prepare_worker(args)
    skip = set(filter(None, args.skip.split(",")))
    unknown = skip - set(PARTS)
    if unknown:
        raise SystemExit(f"--skip: unknown part(s) {', '.join(sorted(unknown))}; parts: {', '.join(PARTS)}")
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        cache = tmp / "cache"
        run_child([sys.executable, "-c", "import sys, pathlib; from evalharness.sample import ensure_demo_catalog; "
                   "ensure_demo_catalog(pathlib.Path(sys.argv[1]))", str(cache)])
        for name, part in PARTS.items():
            if name not in skip:
                result[name] = {**part(args, cache, tmp), "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
                print(json.dumps({name: result[name]}), flush=True)
    write_result("scale", result)


if __name__ == "__main__":
    main()
