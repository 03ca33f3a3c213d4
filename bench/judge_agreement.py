"""Benchmark: how well a judge agrees with human relevance labels (ESCI, ../shared/data/esci).

Every labelled (query, product) pair of the ESCI subset is judged — by default with the offline judge
and offline guidelines built from the ESCI catalog's vocabulary — and compared with the human label
mapped to three levels (E -> relevant, S -> substitute, C and I -> irrelevant): accuracy, Cohen's kappa,
the confusion matrix, and binary agreement on "relevant or not". Pass --judge openai:<model> (with
[judge] settings in an evalharness.toml given by --project) to measure an LLM judge the same way.
Usage: python bench/judge_agreement.py [--judge SPEC] [--project DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ESCI = REPO.parent / "shared" / "data" / "esci"
MAP = {"E": "relevant", "S": "substitute", "C": "irrelevant", "I": "irrelevant"}
LABELS = ("irrelevant", "substitute", "relevant")


def cohen_kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    ca, cb = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(ca[lab] * cb[lab] for lab in LABELS) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0


async def judge_all(judge, requests, concurrency: int) -> list:
    sem = asyncio.Semaphore(concurrency)

    async def one(req):
        async with sem:
            try:
                return await judge.judge(req)
            except Exception as exc:  # noqa: BLE001 - counted as a failure in the figures
                return exc

    try:
        return await asyncio.gather(*(one(r) for r in requests))
    finally:
        await judge.aclose()


def main() -> None:
    from evalharness.catalog import iter_products, product_to_hit
    from evalharness.config import load_project_config
    from evalharness.guidelines.offline import OfflineGuidelineWriter, Vocabulary
    from evalharness.judges import make_judge
    from evalharness.judges.base import JudgeRequest
    from evalharness.models import Query, sha256_hex

    ap = argparse.ArgumentParser()
    ap.add_argument("--judge", default="offline")
    ap.add_argument("--project", type=Path, default=REPO)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    if not ESCI.exists():
        raise SystemExit(f"ESCI data not found at {ESCI}")
    products = {p["id"]: p for p in iter_products(ESCI / "products.jsonl")}
    queries = {q["id"]: q["text"] for q in map(json.loads, (ESCI / "queries.jsonl").open())}
    rows = [r for r in csv.DictReader((ESCI / "labels.csv").open()) if r["query_id"] in queries and r["product_id"] in products]
    if args.limit:
        rows = rows[: args.limit]
    writer = OfflineGuidelineWriter(Vocabulary.from_products(products.values()))
    guidelines = {}
    for qid, text in queries.items():
        g = writer.write(text)
        guidelines[qid] = g.__class__(g.query, g.requirements, g.text, g.writer, hash=sha256_hex(g.text))
    judge = make_judge(args.judge, load_project_config(args.project))
    requests = [JudgeRequest(Query(r["query_id"], queries[r["query_id"]]), guidelines[r["query_id"]],
                             product_to_hit(products[r["product_id"]], 1, 1.0)) for r in rows]
    t0 = time.perf_counter()
    results = asyncio.run(judge_all(judge, requests, judge.max_concurrency))
    elapsed = time.perf_counter() - t0
    pairs = [(MAP[r["label"]], j.label) for r, j in zip(rows, results) if not isinstance(j, BaseException)]
    confusion = {human: {lab: 0 for lab in LABELS} for human in LABELS}
    for human, got in pairs:
        confusion[human][got] += 1
    binary = sum((h == "relevant") == (g == "relevant") for h, g in pairs) / len(pairs)
    write_result(f"judge_agreement_{args.judge.replace(':', '_')}", {
        "judge": judge.judge_id, "pairs": len(rows), "judged": len(pairs), "failed": len(rows) - len(pairs),
        "accuracy_3_level": round(sum(h == g for h, g in pairs) / len(pairs), 4), "cohen_kappa_3_level": round(cohen_kappa(pairs), 4),
        "binary_relevant_agreement": round(binary, 4), "confusion_human_rows_judge_columns": confusion,
        "human_label_shares": {k: round(v / len(pairs), 4) for k, v in Counter(h for h, _ in pairs).items()},
        "judge_label_shares": {k: round(v / len(pairs), 4) for k, v in Counter(g for _, g in pairs).items()},
        "seconds": round(elapsed, 2),
    })


if __name__ == "__main__":
    main()
