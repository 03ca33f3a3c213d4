"""Benchmark: implicit labels from a generated 10-million-event UBI log; events/s and peak RSS.

The log (OpenSearch UBI bulk NDJSON: a query document per search, then its impression and click events) covers
1,000 queries x 30 documents, each search showing 10 of them in random order with position-based clicks. It is
written to a temporary file; `labels implicit` runs as a separate process (the real CLI) so its peak RSS is
measured alone; its CPU seconds are reported beside the wall time (a shared machine's load stretches
the wall time, not the CPU time). Usage: python bench/implicit_scale.py [--events N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

from evalharness.sample.events import write_ubi_log  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--docs", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "ubi.ndjson"
        (Path(tmp) / "evalharness.toml").write_text("# every key optional: the defaults, a SQLite store in the folder\n")
        t0 = time.perf_counter()
        searches = write_ubi_log(log, args.events, args.queries, args.docs)
        gen_s = time.perf_counter() - t0
        size_mb = log.stat().st_size / 1e6
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "evalharness", "-C", tmp, "labels", "implicit", "--source", str(log),
                               "--format", "ubi", "--as", "bench", "--json"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_kb, cpu_s = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        summary = json.loads(proc.stdout)
    write_result("implicit_scale", {
        "events": args.events, "searches": searches, "queries": args.queries, "docs_per_query": args.docs, "log_mb": round(size_mb, 1),
        "generate_s": round(gen_s, 1), "implicit_wall_s": round(wall, 2), "events_per_s": round(args.events / wall),
        "implicit_cpu_s": round(cpu_s, 2), "events_per_cpu_s": round(args.events / cpu_s),
        "peak_rss_mb": round(peak_kb / 1024, 1), "events_read": summary["events"], "pairs": summary["pairs"],
        "labelled_pairs": summary["labelled_pairs"], "pbm_iterations": summary["pbm_iterations"],
        "pbm_converged": summary["pbm_converged"], "theta": [round(t, 3) for t in summary["theta"][:10]],
        "limit_rss_mb": 1024, "rss_under_limit": peak_kb / 1024 < 1024,
    })


if __name__ == "__main__":
    main()
