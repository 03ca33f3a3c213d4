"""Benchmark: queries per second for 1,000 queries against osmem-server, _msearch batches vs one request per query.

Indexes the demo catalog into a fresh osmem-server on 127.0.0.1 through the OpenSearch backend, then
times OpenSearchBackend.search_many (batched _msearch, bounded concurrency) against a loop of single
_search requests. Usage: python bench/retrieval.py [--queries N]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    from osmem_server import OsmemServer

    from evalharness.backends.cluster import OpenSearchBackend
    from evalharness.project import Project
    from evalharness.sample import ensure_demo_catalog

    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, OsmemServer.start(japanese=False) as server:
        root = Path(tmp)
        (root / "engines").mkdir()
        text = (REPO / "engines" / "os-v2.toml").read_text().replace('hosts = ["http://127.0.0.1:9200"]', f'hosts = ["{server.url}"]')
        (root / "engines" / "os.toml").write_text(text)
        demo = ensure_demo_catalog(root / ".evalharness")
        engine = Project(root).engine("os")
        backend = OpenSearchBackend(engine)
        t0 = time.perf_counter()
        n_docs = backend.index_catalog(demo.products)
        index_s = time.perf_counter() - t0
        log = [row["query"] for row in csv.DictReader(demo.query_log.open())]
        queries = [log[i % len(log)] for i in range(args.queries)]
        results = {}
        for batch_size, concurrency in ((50, 4), (100, 2), (20, 8)):
            engine.config.query.batch_size, engine.config.query.concurrency = batch_size, concurrency
            t0 = time.perf_counter()
            hits = backend.search_many(queries, 10)
            dt = time.perf_counter() - t0
            results[f"msearch_b{batch_size}_c{concurrency}"] = {"seconds": round(dt, 3), "qps": round(len(queries) / dt, 1),
                                                               "hits": sum(len(h) for h in hits)}
        t0 = time.perf_counter()
        single = [backend.search(q, 10) for q in queries]
        dt = time.perf_counter() - t0
        results["single_requests"] = {"seconds": round(dt, 3), "qps": round(len(queries) / dt, 1), "hits": sum(len(h) for h in single)}
        backend.close()
    best = max(v["qps"] for k, v in results.items() if k.startswith("msearch"))
    write_result("retrieval", {"queries": len(queries), "documents": n_docs, "index_seconds": round(index_s, 2), "results": results,
                               "msearch_speedup_vs_single": round(best / results["single_requests"]["qps"], 2)})


if __name__ == "__main__":
    main()
