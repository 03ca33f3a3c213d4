"""Benchmark: the full judge path (prompt, SDK call, parse, store) against the local wire-format server.

5,000 pairs at 1,000 ms latency with 128 in flight (ideal bound 128 pairs/s), then 200 ms latency at
concurrency 16, 64 and 128; CPU ms per judgment of this (harness) process for the whole process (target
<= 2.0 ms at 200 ms x 128), peak RSS, and the fully cached re-run (time and requests sent). The server runs in
its own process so its CPU is not counted; each run also reports the seconds it waited for a CPU (the load of
other processes on a shared machine). Then the offline fill: 500,000 distinct pairs through the offline
judge into a fresh store (target >= 10,000 pairs/s).
Usage: python bench/judge_throughput.py [--pairs N] [--offline-pairs N] [--scenarios 1000x128,200x16,200x64,200x128]
       [--provider openai|anthropic|gemini] [--http aiohttp|httpx]
(--pairs 0 skips the judge scenarios, --offline-pairs 0 the offline fill; --scenarios picks latency_ms x concurrency runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-bench-local"
SCENARIOS = "1000x128,200x16,200x64,200x128"


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "llmserver.py"), "--api-key", KEY], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    url = json.loads(proc.stdout.readline())["url"]
    return proc, url


def server_call(url: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def runqueue_wait_s() -> float:
    """Seconds this process's live threads spent runnable but waiting for a CPU (Linux schedstat; 0 elsewhere): the
    part of the wall clock that other processes' load took, so a loaded machine's figures can be read."""
    total = 0
    for stat in Path("/proc/self/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def build_pairs(n: int, judge, demo) -> list:
    from evalharness.catalog.products import iter_products, product_to_hit
    from evalharness.judges.base import JudgeRequest
    from evalharness.models import Guideline, Query, Requirement
    from evalharness.pipeline.judging import Pair
    from evalharness.store import content_hash, judgment_cache_key

    rng = random.Random(3)
    products = list(iter_products(demo.products))
    queries = [line.split(",")[0] for line in demo.query_log.read_text().splitlines()[1:]]
    pairs: list = []
    seen: set[str] = set()
    i = -1
    while len(pairs) < n:  # n distinct pairs (distinct cache keys)
        i += 1
        q = queries[i % len(queries)]
        g = Guideline(q, (Requirement("product_type", q.split()[-1], "must"),), f"Relevant: {q}.", "offline", hash=f"{i % len(queries):064d}")
        hit = product_to_hit(rng.choice(products), 1 + i % 10, 1.0, demo.root)
        chash = content_hash(hit)
        key = judgment_cache_key(q, chash, g.hash, judge.judge_id)
        if key not in seen:
            seen.add(key)
            pairs.append(Pair(key, JudgeRequest(Query(f"q{i}", q), g, hit), chash))
    return pairs


def scenario(url: str, store, demo, latency: float, concurrency: int, n: int, label: str, provider: str = "openai") -> dict:
    from evalharness.config import ProjectConfig
    from evalharness.judges.llm import LLMJudge
    from evalharness.pipeline.judging import judge_pairs

    cfg = ProjectConfig.model_validate({"judge": {"api_key_env": "EH_BENCH_KEY", "base_url": f"{url}/v1" if provider == "openai" else url,
                                                  "max_concurrency": concurrency,
                                                  "timeout_s": 30}})
    judge = LLMJudge(provider, f"bench-{label}", cfg)
    pairs = build_pairs(n, judge, demo)
    judge.check_ready()  # the SDK imported and the client built before timing, as `run` does before judging
    server_call(url, "/_config", {"latency": latency})
    cpu0, t0, waited0 = time.process_time(), time.perf_counter(), runqueue_wait_s()
    outcome = judge_pairs(judge, store, pairs)
    wall, cpu, waited = time.perf_counter() - t0, time.process_time() - cpu0, runqueue_wait_s() - waited0
    sent = sum(server_call(url, "/_stats")["requests"].values())
    ideal = concurrency / latency
    result = {"provider": provider, "latency_ms": int(latency * 1000), "concurrency": concurrency, "pairs": n, "judged": outcome.new,
              "failed": len(outcome.failures), "wall_s": round(wall, 2), "pairs_per_s": round(n / wall, 1),
              "ideal_pairs_per_s": ideal, "ratio_to_ideal": round(n / wall / ideal, 3), "cpu_ms_per_judgment": round(cpu * 1000 / n, 2),
              "cpu_s": round(cpu, 2), "runqueue_wait_s": round(waited, 2), "requests_sent": sent}
    server_call(url, "/_config", {"latency": 0})
    t0 = time.perf_counter()
    cached = judge_pairs(LLMJudge(provider, f"bench-{label}", cfg), store, pairs)
    result["cached_rerun_s"] = round(time.perf_counter() - t0, 3)
    result["cached_rerun_requests"] = sum(server_call(url, "/_stats")["requests"].values())
    result["cached_rerun_hits"] = cached.cached
    print(json.dumps(result), flush=True)
    return result


def offline_fill(tmp: str, demo, n: int) -> dict:
    """n distinct pairs (query i mod Q x product i div Q) through the offline judge into a fresh SQLite store."""
    from evalharness.catalog.products import iter_products, product_to_hit
    from evalharness.judges.base import JudgeRequest
    from evalharness.judges.offline import OfflineJudge
    from evalharness.models import Guideline, Query, Requirement
    from evalharness.pipeline.judging import Pair, judge_pairs
    from evalharness.store import Store, content_hash, judgment_cache_key

    judge = OfflineJudge()
    hits = [product_to_hit(p, 1, 1.0, demo.root) for p in iter_products(demo.products)]
    hashes = [content_hash(h) for h in hits]
    texts = [line.split(",")[0] for line in demo.query_log.read_text().splitlines()[1:]]
    queries = [(Query(f"q{i}", q), Guideline(q, (Requirement("product_type", q.split()[-1], "must"),), f"Relevant: {q}.", "offline",
                                             hash=f"{i:064d}")) for i, q in enumerate(texts)]
    if n > len(queries) * len(hits):
        raise SystemExit(f"--offline-pairs above {len(queries) * len(hits)} distinct pairs of the demo catalog")
    t0 = time.perf_counter()
    pairs = []
    for i in range(n):
        (query, g), p = queries[i % len(queries)], (i // len(queries)) % len(hits)
        pairs.append(Pair(judgment_cache_key(query.text, hashes[p], g.hash, judge.judge_id), JudgeRequest(query, g, hits[p]), hashes[p]))
    build_s = time.perf_counter() - t0
    store = Store(f"sqlite:///{tmp}/offline-fill.db")
    cpu0, t0, waited0 = time.process_time(), time.perf_counter(), runqueue_wait_s()
    outcome = judge_pairs(judge, store, pairs)
    wall, cpu, waited = time.perf_counter() - t0, time.process_time() - cpu0, runqueue_wait_s() - waited0
    stored = store.count_judgments()
    store.close()
    result = {"pairs": n, "judged": outcome.new, "stored": stored, "wall_s": round(wall, 2), "pairs_per_s": round(n / wall, 1),
              "cpu_ms_per_judgment": round(cpu * 1000 / n, 4), "cpu_s": round(cpu, 2), "runqueue_wait_s": round(waited, 2),
              "pair_build_s": round(build_s, 2), "target_pairs_per_s": 10000}
    print(json.dumps({"offline_fill": result}), flush=True)
    return result


def main() -> None:
    from evalharness.runtime import httpclient
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5000)
    ap.add_argument("--offline-pairs", type=int, default=500_000)
    ap.add_argument("--scenarios", default=SCENARIOS, help="comma-separated latency_ms x concurrency runs, e.g. 200x128")
    ap.add_argument("--provider", default="openai", choices=["openai", "anthropic", "gemini"], help="the SDK the judge calls through")
    ap.add_argument("--http", default="aiohttp", choices=["aiohttp", "httpx"], help="the SDK's async transport (httpx: as before aiohttp)")
    args = ap.parse_args()
    httpclient.USE_AIOHTTP = args.http == "aiohttp"
    os.environ["EH_BENCH_KEY"] = KEY
    plan = [(int(ms) / 1000, int(c)) for ms, c in (s.split("x") for s in args.scenarios.split(",") if s)] if args.pairs else []
    runs: list[dict] = []
    fill: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        demo = ensure_demo_catalog(Path(tmp) / "cache")
        if plan:
            proc, url = start_server()
            try:
                store = Store(f"sqlite:///{tmp}/bench.db")
                runs = [scenario(url, store, demo, latency, c, args.pairs, f"{int(latency * 1000)}ms-c{c}", args.provider)
                        for latency, c in plan]
                store.close()
            finally:
                proc.stdin.close()
                proc.wait(timeout=10)
        if args.offline_pairs:
            fill = offline_fill(tmp, demo, args.offline_pairs)
    by_name = {(r["latency_ms"], r["concurrency"]): r for r in runs}
    headline, fast = by_name.get((1000, 128), {}), by_name.get((200, 128), {})
    write_result("judge_throughput", {
        "headline": {"pairs_per_s": headline.get("pairs_per_s"), "ratio_to_ideal": headline.get("ratio_to_ideal"),
                     "cpu_ms_per_judgment": headline.get("cpu_ms_per_judgment"), "target_ratio": 0.85,
                     "cpu_ms_per_judgment_200ms_c128": fast.get("cpu_ms_per_judgment"), "target_cpu_ms_200ms_c128": 2.0,
                     "offline_fill_pairs_per_s": fill.get("pairs_per_s"), "target_offline_fill_pairs_per_s": 10000},
        "http": args.http, "offline_fill": fill, "runs": runs, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    })


if __name__ == "__main__":
    main()
