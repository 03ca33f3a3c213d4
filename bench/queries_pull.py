"""Benchmark: pull the top queries from a generated 10-million-row search log; rows/s and peak RSS.

The log (one row per search: query, timestamp) has a Zipf-shaped frequency over 200,000 distinct
queries with case and whitespace variants. The pull runs as a separate process (the real CLI) so
its peak RSS is measured alone. Usage: python bench/queries_pull.py [--rows N]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

WORDS = ["red", "blue", "black", "leather", "cotton", "wireless", "running", "kids", "womens", "mens", "small", "large", "vintage",
         "waterproof", "organic", "steel", "gold", "silver", "bamboo", "smart"]
NOUNS = ["sneakers", "jacket", "earbuds", "backpack", "watch", "lamp", "mug", "dress", "jeans", "charger", "case", "table", "chair",
         "sofa", "tent", "bottle", "kettle", "drone", "camera", "scarf"]


def vocabulary(n: int, rng: np.random.Generator) -> list[str]:
    out = []
    for i in range(n):
        a, b, c = rng.integers(0, len(WORDS), 2).tolist() + [rng.integers(0, len(NOUNS))]
        q = f"{WORDS[a]} {WORDS[b]} {NOUNS[c]} {i}"
        out.append(q.upper() if i % 17 == 0 else q.replace(" ", "  ", 1) if i % 13 == 0 else q)
    return out


def generate(path: Path, rows: int, distinct: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    vocab = pa.array(vocabulary(distinct, rng))
    p = 1.0 / np.arange(1, distinct + 1) ** 1.05
    p /= p.sum()
    chunk = 1_000_000
    start = np.datetime64("2024-01-01T00:00:00")
    with pcsv.CSVWriter(path, pa.schema([("query", pa.string()), ("timestamp", pa.string())])) as writer:
        for offset in range(0, rows, chunk):
            n = min(chunk, rows - offset)
            idx = rng.choice(distinct, size=n, p=p)
            ts = (start + rng.integers(0, 365 * 86400, n).astype("timedelta64[s]")).astype(str)
            writer.write_table(pa.table({"query": vocab.take(pa.array(idx)), "timestamp": pa.array(ts)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--distinct", type=int, default=200_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log.csv"
        t0 = time.perf_counter()
        generate(log, args.rows, args.distinct)
        gen_s = time.perf_counter() - t0
        size_mb = log.stat().st_size / 1e6
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "evalharness", "-C", tmp, "queries", "pull", "--source", str(log),
                               "--format", "csv", "--strata", "head:50,torso:100,tail:150", "--seed", "1", "--out", "top.csv"],
                              capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        lines = (Path(tmp) / "top.csv").read_text().splitlines()
    write_result("queries_pull", {
        "rows": args.rows, "distinct_queries": args.distinct, "log_mb": round(size_mb, 1), "generate_s": round(gen_s, 1),
        "pull_wall_s": round(wall, 2), "rows_per_s": round(args.rows / wall), "peak_rss_mb": round(max(peak_kb, before) / 1024, 1),
        "queries_written": len(lines) - 1, "limit_rss_mb": 1024, "rss_under_limit": max(peak_kb, before) / 1024 < 1024,
    })


if __name__ == "__main__":
    main()
