"""Benchmark: the provider batch path at the scale of the studies (100,000 pairs).

Pairs stream into `batch.submit.submit_run` (prompt -> request body -> JSONL line -> files of at most 50,000
requests / 200 MB -> upload + create through the real openai SDK) against tests/llmserver.py's batch endpoints,
then `batches collect` ingests the results (download -> strict parse -> grouped judgment writes). For 10,000 and
100,000 pairs, each in its own process: seconds and pairs/s to write and submit the batch files, seconds and
pairs/s to ingest the results, harness CPU ms per pair, batches created, lines the server answered, judgments
stored, and peak RSS (the 100k/10k ratio shows whether memory stays flat; target <= 1.5).

Usage: python bench/batch_scale.py [--pairs 100000] [--small-pairs 10000] [--delay 2.0]
JSON goes to bench/results/batch_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402
from scale import KEY, peak_rss_mb, start_llm_server, stream_pairs  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def server_lines(url: str) -> int:
    with urllib.request.urlopen(url + "/_stats") as resp:
        stats = json.loads(resp.read())
    return sum((stats.get("batch") or {}).get("lines", {}).values())


def make_project(root: Path, url: str, cache: Path) -> Path:
    root.mkdir(parents=True)
    text = (REPO / "evalharness.toml").read_text().replace('api_key_env = ""', 'api_key_env = "EH_BENCH_KEY"')
    (root / "evalharness.toml").write_text(text.replace('base_url = ""', f'base_url = "{url}/v1"\nbatch_poll_s = 0.5'))
    shutil.copytree(REPO / "engines", root / "engines")
    (root / ".evalharness").mkdir()
    (root / ".evalharness" / "demo").symlink_to(cache / "demo", target_is_directory=True)
    return root


def worker(args: argparse.Namespace) -> None:
    """One size in a fresh process and store: submit, wait for the server's delay, ingest."""
    from evalharness.batch.collect import Collector
    from evalharness.batch.judges import BatchJudges
    from evalharness.batch.submit import submit_run
    from evalharness.judges.llm import LLMJudge
    from evalharness.project import Project
    from evalharness.sample import ensure_demo_catalog
    from evalharness.store import Store

    os.environ["EH_BENCH_KEY"] = KEY
    cache = Path(args.cache)
    root = make_project(Path(tempfile.mkdtemp(prefix="eh-batch-bench-")) / "p", args.url, cache)
    project = Project(root)
    demo = ensure_demo_catalog(cache)
    store = Store(project.store_url())
    judge = LLMJudge("openai", "bench-batch", project.config)
    texts = [line.split(",")[0] for line in demo.query_log.read_text().splitlines()[1:]]
    store.record_guidelines(  # the guidelines stream_pairs uses, recorded as a run records them
        {"hash": f"{i:064d}", "query": q, "path": "", "writer": "offline", "model": "",
         "requirements": [{"attribute": "product_type", "value": q.split()[-1], "importance": "must"}], "text": f"Relevant: {q}."}
        for i, q in enumerate(texts[: args.pairs]))
    rss0 = peak_rss_mb()
    cpu0, t0 = time.process_time(), time.perf_counter()
    sub = submit_run(project, store, BatchJudges(judge), "bench-run", stream_pairs(args.pairs, judge, demo))
    submit_s, submit_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    collector = Collector(project, store)
    waited = 0.0
    ingest_s = ingest_cpu = 0.0
    ingested = 0
    while True:
        c0, w0 = time.process_time(), time.perf_counter()
        report = collector.collect_once()
        if report.ingested:
            ingest_s += time.perf_counter() - w0
            ingest_cpu += time.process_time() - c0
            ingested += sum(c.judged for c in report.ingested.values())
        if not report.still_open and not report.resubmitted:
            break
        time.sleep(0.5)
        waited += 0.5
    collector.close()
    stored = store.count_judgments()
    store.close()
    shutil.rmtree(root.parent, ignore_errors=True)
    n = args.pairs
    print(json.dumps({"pairs": n, "batches": len(sub.batches), "sent": sub.sent, "submit_s": round(submit_s, 2),
                      "submit_pairs_per_s": round(n / submit_s), "ingest_s": round(ingest_s, 2),
                      "ingest_pairs_per_s": round(ingested / ingest_s) if ingest_s else None, "judgments_stored": stored,
                      "cpu_ms_per_pair": round((submit_cpu + ingest_cpu) * 1000 / n, 3), "waited_for_provider_s": waited,
                      "rss_before_mb": rss0, "peak_rss_mb": peak_rss_mb()}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=100_000)
    ap.add_argument("--small-pairs", type=int, default=10_000)
    ap.add_argument("--delay", type=float, default=2.0, help="the server's simulated batch completion delay (s)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    from evalharness.sample import ensure_demo_catalog

    cache = Path(tempfile.mkdtemp(prefix="eh-batch-cache-"))
    ensure_demo_catalog(cache)
    proc, url = start_llm_server(0.0, "--batch-delay", str(args.delay))
    sizes = {}
    try:
        for n in (args.small_pairs, args.pairs):
            before = server_lines(url)
            cmd = [sys.executable, __file__, "--worker", "--pairs", str(n), "--url", url, "--cache", str(cache)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"batch_scale worker for {n} pairs failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.splitlines()[-1])
            result["server_lines_answered"] = server_lines(url) - before
            sizes[str(n)] = result
            print(json.dumps(result), flush=True)
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        shutil.rmtree(cache, ignore_errors=True)
    small, big = sizes[str(args.small_pairs)], sizes[str(args.pairs)]
    data = {"delay_s": args.delay, "sizes": sizes, "peak_rss_ratio_big_to_small": round(big["peak_rss_mb"] / small["peak_rss_mb"], 3),
            "target_rss_ratio": 1.5, "peak_rss_mb_largest_child": peak_rss_mb(resource.RUSAGE_CHILDREN)}
    print(f"written to {write_result('batch_scale', data)}")


if __name__ == "__main__":
    main()
