"""Benchmark: the full judge path (prompt, openai SDK call, parse, store) against the local wire-format server.

5,000 pairs at 1,000 ms latency with 128 in flight (ideal bound 128 pairs/s), then 200 ms latency at
concurrency 16, 64 and 128; CPU ms per judgment of this (harness) process, peak RSS, and the fully
cached re-run (time and requests sent). The server runs in its own process so its CPU is not counted.
Usage: python bench/judge_throughput.py [--pairs N]
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


def build_pairs(n: int, judge, demo) -> list:
    from evalharness.catalog import iter_products, product_to_hit
    from evalharness.judges.base import JudgeRequest
    from evalharness.judging import Pair
    from evalharness.models import Guideline, Query, Requirement
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


def scenario(url: str, store, demo, latency: float, concurrency: int, n: int, label: str) -> dict:
    from evalharness.config import ProjectConfig
    from evalharness.judges.llm import LLMJudge
    from evalharness.judging import judge_pairs

    cfg = ProjectConfig.model_validate({"judge": {"api_key_env": "EH_BENCH_KEY", "base_url": f"{url}/v1", "max_concurrency": concurrency,
                                                  "timeout_s": 30}})
    judge = LLMJudge("openai", f"bench-{label}", cfg)
    pairs = build_pairs(n, judge, demo)
    server_call(url, "/_config", {"latency": latency})
    cpu0, t0 = time.process_time(), time.perf_counter()
    outcome = judge_pairs(judge, store, pairs)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    sent = sum(server_call(url, "/_stats")["requests"].values())
    ideal = concurrency / latency
    result = {"latency_ms": int(latency * 1000), "concurrency": concurrency, "pairs": n, "judged": outcome.new,
              "failed": len(outcome.failures), "wall_s": round(wall, 2), "pairs_per_s": round(n / wall, 1),
              "ideal_pairs_per_s": ideal, "ratio_to_ideal": round(n / wall / ideal, 3), "cpu_ms_per_judgment": round(cpu * 1000 / n, 2),
              "requests_sent": sent}
    server_call(url, "/_config", {"latency": 0})
    t0 = time.perf_counter()
    cached = judge_pairs(LLMJudge("openai", f"bench-{label}", cfg), store, pairs)
    result["cached_rerun_s"] = round(time.perf_counter() - t0, 3)
    result["cached_rerun_requests"] = sum(server_call(url, "/_stats")["requests"].values())
    result["cached_rerun_hits"] = cached.cached
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store

    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5000)
    args = ap.parse_args()
    os.environ["EH_BENCH_KEY"] = KEY
    proc, url = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            demo = ensure_demo_catalog(Path(tmp) / "cache")
            store = Store(f"sqlite:///{tmp}/bench.db")
            runs = [scenario(url, store, demo, 1.0, 128, args.pairs, "1000ms-c128")]
            for c in (16, 64, 128):
                runs.append(scenario(url, store, demo, 0.2, c, args.pairs, f"200ms-c{c}"))
            store.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    headline = runs[0]
    write_result("judge_throughput", {
        "headline": {"pairs_per_s": headline["pairs_per_s"], "ratio_to_ideal": headline["ratio_to_ideal"],
                     "cpu_ms_per_judgment": headline["cpu_ms_per_judgment"], "target_ratio": 0.85, "target_cpu_ms": 8.0},
        "runs": runs, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    })


if __name__ == "__main__":
    main()
