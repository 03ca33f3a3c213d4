"""Benchmark: the judge path as users run it — `evalharness run` as a child process against the test LLM server in
another process — beside a bare aiohttp client replaying the same requests (the floor).

Project: the ESCI catalog (/work/shared/data/esci: 100 queries, tantivy over titles; by default each scenario runs at
top 100 (~9,200 pairs) and at top 30 (~2,900 pairs, issue 27's first measurements): the child's fixed costs (~0.9 s
from its start to its first request: imports, the LLM SDK, config, index, search) weigh on the ratio as on a real
run of that size),
or the demo catalog when that data is absent. Guidelines are written once by the server (an LLM writer) and the index
built before anything is timed. For each scenario LATENCYxCONCURRENCY (default 200x128 and 1000x256):
- `cli`: `evalharness run` with a fresh openai judge model: wall, pairs/s, ratio to the bound (concurrency / latency),
  the child's CPU (user + sys from wait4) per judgment and peak RSS; the test server records every request body;
- `floor`: bench/floor_client.py replays those recorded bodies with the same concurrency: the same figures;
- `cli_to_floor`: the CLI's ratio to the bound over the floor's, side by side under the same machine load;
- `cached`: the same `run` again, all cached (0 requests): wall, CPU, peak RSS.
Each scenario repeats (--repeat) and keeps every repetition; the load average is recorded before each one.
--in-process adds the former in-process breakdown (judge_pairs timed inside this process) and the offline fill.
Usage: python bench/judge_throughput.py [--scenarios 200x128,1000x256] [--top-k 100,30] [--repeat 1]
       [--answer-style exact,realistic] [--in-process] [--pairs 5000] [--offline-pairs 500000]
Results: bench/results/judge_throughput.json (git-ignored).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    EVALHARNESS,
    REPO,
    figures,
    own_rss_mb,
    run_child,
    server_call,
    server_options,
    server_requests,
    start_llm_server,
    stop_llm_server,
    timeline,
    write_result,
)

KEY = "sk-bench-local"
SCENARIOS = "200x128,1000x256"
ESCI = Path(os.environ.get("EVALHARNESS_SHARED_DATA", "/work/shared/data")) / "esci"
ENV = {"EH_BENCH_KEY": KEY}


def make_project(root: Path, url: str, top_k: int) -> tuple[Path, str]:
    """A project on the ESCI catalog (else the demo's) whose judge and guideline writer talk to the test server;
    returns it and the engine config name."""
    root.mkdir(parents=True)
    (root / "queries").mkdir()
    (root / "engines").mkdir()
    if (ESCI / "products.jsonl").exists():
        catalog, engine = str(ESCI / "products.jsonl"), "title"
        (root / "engines" / "title.toml").write_text(f'backend = "tantivy"\n[tantivy]\ncatalog = "{catalog}"\nfields = ["title"]\n')
        with (root / "queries" / "bench.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "query", "count", "segment"])
            for line in (ESCI / "queries.jsonl").open(encoding="utf-8"):
                q = json.loads(line)
                w.writerow([q["id"], q["text"], 1, ""])
    else:
        catalog, engine = "demo", "v2"
        shutil.copy(REPO / "engines" / "v2.toml", root / "engines" / "v2.toml")
        shutil.copy(REPO / "queries" / "demo.csv", root / "queries" / "bench.csv")
    write_config(root, url, 16, catalog, top_k)
    return root, engine


def write_config(root: Path, url: str, concurrency: int, catalog: str, top_k: int) -> None:
    (root / "evalharness.toml").write_text(f"""[judge]
spec = "offline"
api_key_env = "EH_BENCH_KEY"
base_url = "{url}/v1"
max_concurrency = {concurrency}
timeout_s = 60

[guidelines]
writer = "openai:bench-writer"
catalog = "{catalog}"

[run]
queries = "queries/bench.csv"
top_k = {top_k}
metrics = ["nDCG@10", "P(rel=2)@10", "Judged@10"]
""")


def cli_run(project: Path, engine: str, judge: str) -> tuple[dict, dict]:
    """`evalharness run` in a child: its figures and the run's counts, and the child as run_child gives it."""
    child = run_child([*EVALHARNESS, "-C", str(project), "run", "-e", engine, "--judge", judge, "--json"], env=ENV, check=False)
    # exit 2 with the run's JSON and failed pairs is how `run` ends when answers were not labels (realistic answers)
    try:
        out = json.loads(child["stdout"])
    except json.JSONDecodeError:
        out = {}
    if child["returncode"] != 0 and not (child["returncode"] == 2 and out.get("counts", {}).get("failed")):
        raise SystemExit(f"evalharness run exited {child['returncode']}: {child['stderr'].strip()[-1500:]}")
    return {**figures(child), "counts": out["counts"], "run_elapsed_s": out["elapsed_s"], "status": out["status"]}, child


def rated(fig: dict, pairs: int, bound: float) -> dict:
    """Throughput figures of a timed child: pairs/s over its whole wall, ratio to the bound, CPU ms per judgment."""
    return {**fig, "pairs": pairs, "pairs_per_s": round(pairs / fig["wall_s"], 1), "ratio_to_bound": round(pairs / fig["wall_s"] / bound, 3),
            "cpu_ms_per_judgment": round(fig["cpu_s"] * 1000 / max(pairs, 1), 3)}


def cli_scenario(url: str, project: Path, engine: str, catalog: str, top_k: int, latency: float, concurrency: int,
                 label: str, tmp: Path) -> dict:
    """One LATENCYxCONCURRENCY scenario: the CLI child, the floor replaying its requests, then the cached rerun."""
    write_config(project, url, concurrency, catalog, top_k)
    judge = f"openai:bench-{label}-{random.randrange(10**8)}"  # a model never judged before: nothing is cached
    record = tmp / f"requests-{label}.jsonl"
    record.unlink(missing_ok=True)
    bound = concurrency / latency
    load = [round(x, 2) for x in os.getloadavg()]
    server_call(url, "/_config", {"latency": latency, "record": str(record)})
    cli, cli_child = cli_run(project, engine, judge)
    sent = server_requests(url)
    floor_record = tmp / f"requests-{label}-floor.jsonl"
    floor_record.unlink(missing_ok=True)
    server_call(url, "/_config", {"latency": latency, "record": str(floor_record)})
    pairs = cli["counts"]["judged_new"]
    floor_child = run_child([sys.executable, str(Path(__file__).parent / "floor_client.py"), str(record), url, KEY, str(concurrency)])
    server_call(url, "/_config", {"latency": latency, "record": None})
    floor = {**figures(floor_child), **json.loads(floor_child["stdout"]), "timeline": timeline(floor_child, floor_record, latency)}
    cli["timeline"] = timeline(cli_child, record, latency)  # the record is complete once the server closed it
    server_call(url, "/_config", {"latency": 0})
    cached = cli_run(project, engine, judge)[0]
    cached["requests_sent"] = server_requests(url)
    cli_r, floor_r = rated(cli, pairs, bound), rated(floor, floor["requests"], bound)
    result = {"latency_ms": int(latency * 1000), "concurrency": concurrency, "bound_pairs_per_s": bound, "loadavg_before": load,
              "loadavg_after": [round(x, 2) for x in os.getloadavg()], "requests_sent": sent,
              "cli": {**cli_r, "requests_sent": sent}, "floor": floor_r,
              "cli_to_floor": round(cli_r["ratio_to_bound"] / floor_r["ratio_to_bound"], 3),
              "cpu_cli_to_floor": round(cli_r["cpu_ms_per_judgment"] / max(floor_r["cpu_ms_per_judgment"], 1e-9), 2),
              "cached": cached}
    print(json.dumps({k: result[k] for k in ("latency_ms", "concurrency", "loadavg_before", "cli_to_floor")} |
                     {"cli": {k: cli_r[k] for k in ("wall_s", "ratio_to_bound", "cpu_ms_per_judgment", "peak_rss_mb", "timeline")},
                      "floor": {k: floor_r[k] for k in ("wall_s", "ratio_to_bound", "cpu_ms_per_judgment", "peak_rss_mb", "timeline")},
                      "cached": {k: cached[k] for k in ("wall_s", "cpu_s", "peak_rss_mb", "requests_sent")}}), flush=True)
    return result


def end_to_end(args: argparse.Namespace, tmp: Path) -> dict:
    """Every scenario for every answer style the server offers (of those asked)."""
    styles = [s for s in args.answer_style.split(",") if s]
    if "--answer-style" not in server_options():
        styles = [""]  # a server without answer styles answers exactly
    out: dict = {}
    for style in styles:
        proc, url = start_llm_server(KEY, 0.0, *(["--answer-style", style] if style else []))
        try:
            top_ks = [int(k) for k in str(args.top_k).split(",") if k]
            project, engine = make_project(tmp / f"project-{style or 'exact'}", url, top_ks[0])
            catalog = str(ESCI / "products.jsonl") if engine == "title" else "demo"
            prepare = cli_run(project, engine, "offline")[0]  # guidelines written, index built: not timed below
            runs = []
            for _ in range(args.repeat):
                for k in top_ks:
                    for ms, c in (s.split("x") for s in args.scenarios.split(",") if s):
                        runs.append({"top_k": k, **cli_scenario(url, project, engine, catalog, k, int(ms) / 1000, int(c),
                                                                 f"{ms}x{c}-top{k}", tmp)})
        finally:
            stop_llm_server(proc)
        out[style or "exact"] = {"catalog": "esci" if engine == "title" else "demo", "top_k": top_ks,
                                 "prepare": {k: prepare[k] for k in ("wall_s", "cpu_s", "counts")}, "runs": runs}
    return out


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


def in_process(args: argparse.Namespace, tmp: str) -> dict:
    """The secondary breakdown: judge_pairs timed inside this process (a child, so the CLI figures' parent stays slim)."""
    from evalharness.runtime import httpclient
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store

    httpclient.USE_AIOHTTP = args.http == "aiohttp"
    os.environ["EH_BENCH_KEY"] = KEY
    plan = [(int(ms) / 1000, int(c)) for ms, c in (s.split("x") for s in args.in_process_scenarios.split(",") if s)] if args.pairs else []
    runs: list[dict] = []
    fill: dict = {}
    demo = ensure_demo_catalog(Path(tmp) / "cache")
    if plan:
        proc, url = start_llm_server(KEY)
        try:
            store = Store(f"sqlite:///{tmp}/bench.db")
            runs = [scenario(url, store, demo, latency, c, args.pairs, f"{int(latency * 1000)}ms-c{c}", args.provider)
                    for latency, c in plan]
            store.close()
        finally:
            stop_llm_server(proc)
    if args.offline_pairs:
        fill = offline_fill(tmp, demo, args.offline_pairs)
    return {"http": args.http, "runs": runs, "offline_fill": fill,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", default=SCENARIOS, help="comma-separated latency_ms x concurrency runs of the CLI, e.g. 200x128")
    ap.add_argument("--top-k", default="100,30", help="hits judged per query (ESCI: 100 queries), one or more: 100,30")
    ap.add_argument("--repeat", type=int, default=1, help="times to run each scenario (all kept)")
    ap.add_argument("--answer-style", default="exact,realistic", help="the server's answer styles to run (when it has them)")
    ap.add_argument("--in-process", action="store_true", help="also the in-process breakdown and the offline fill")
    ap.add_argument("--pairs", type=int, default=5000, help="pairs of each in-process scenario")
    ap.add_argument("--in-process-scenarios", default="1000x128,200x128")
    ap.add_argument("--offline-pairs", type=int, default=500_000)
    ap.add_argument("--provider", default="openai", choices=["openai", "anthropic", "gemini"], help="in-process: the SDK")
    ap.add_argument("--http", default="aiohttp", choices=["aiohttp", "httpx"], help="in-process: the SDK's async transport")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "in-process":
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(in_process(args, tmp)))
        return
    result: dict = {"launcher_rss_mb": own_rss_mb()}
    with tempfile.TemporaryDirectory() as tmp:
        if args.scenarios:
            result["end_to_end"] = end_to_end(args, Path(tmp))
    if args.in_process:
        child = run_child([sys.executable, __file__, "--worker", "in-process", *sys.argv[1:]])
        result["in_process"] = json.loads(child["stdout"].splitlines()[-1])
    write_result("judge_throughput", result)


if __name__ == "__main__":
    main()
