"""A seeded behaviour log for the demo catalog, and synthetic logs of any size for benchmarks.

A lexical ranker (query words in the title, plus noise) shows ten products per search. Shoppers follow a
position-based click model: a result at position k (0-based) is examined with probability examination(k) and
clicked when examined with the product's attractiveness: low when it is not the product type the query names,
higher the more of the query's colour, material and brand it matches, times PHOTO_FACTOR when its photo is
degraded (the Mercari observation: poor photos draw fewer clicks and sales). A click leads to an add-to-cart,
and a cart to a purchase, with fixed probabilities (lower for poor photos). The demo log is written beside the
demo catalog on first use (it never changes the catalog, its images or its query log); it is JSON lines with the
fields `labels implicit --format jsonl` reads by default.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evalharness.runtime.filelock import file_lock
from evalharness.sample.generate import DEFAULT_SEED, DemoCatalog

EVENTS_FILE = "events.jsonl"
EVENTS_VERSION = 1
SEED_OFFSET = 5
SHOWN = 10
PHOTO_FACTOR = 0.35
CART_AFTER_CLICK = 0.3
PURCHASE_AFTER_CART = 0.4


def examination(k: int) -> float:
    return 1.0 / (k + 1) ** 0.7


def _attractiveness(product: dict[str, Any], words: set[str], text: str) -> float:
    """How likely a shopper who examines the product clicks it: mostly whether it is what the query names."""
    if product["product_type"] not in text:
        return 0.03 * _photo(product)
    fields = [product["color"], product["material"], product["brand"].lower()]
    matched = sum(1 for f in fields if f.lower() in words or all(w in words for w in f.lower().split()))
    return min(0.95, (0.2 + 0.2 * matched) * _photo(product))


def _photo(product: dict[str, Any]) -> float:
    return PHOTO_FACTOR if product.get("degradation", "none") != "none" else 1.0


def demo_events(products: list[dict[str, Any]], queries: list[tuple[str, int]], seed: int) -> Iterator[dict[str, Any]]:
    """Events for each query (searches in proportion to its log count): a lexical ranker shows ten products, then
    shoppers click, add to cart and buy."""
    rng = random.Random(seed)
    titles = [set(p["title"].lower().split()) | {p["product_type"]} for p in products]
    n = 0
    for text, count in queries:
        words = set(text.lower().split())
        # the engine's score: query words in the title plus a fixed per-product boost (popularity, freshness) and a
        # little noise per search, so a query's list is stable but not frozen
        candidates = [(p, len(words & t) + rng.gauss(0, 0.6)) for p, t in zip(products, titles) if words & t]
        if not candidates:
            continue
        for _ in range(max(1, count // 6)):
            n += 1
            search = f"s{n:07d}"
            shown = sorted(candidates, key=lambda pm: -(pm[1] + rng.gauss(0, 0.2)))[:SHOWN]
            for k, (p, _) in enumerate(shown):
                yield {"search_id": search, "query": text, "doc_id": p["id"], "position": k, "action": "impression"}
            for k, (p, _) in enumerate(shown):
                if rng.random() < examination(k) * _attractiveness(p, words, text):
                    yield {"search_id": search, "query": text, "doc_id": p["id"], "position": k, "action": "click"}
                    if rng.random() < CART_AFTER_CLICK * _photo(p):
                        yield {"search_id": search, "query": text, "doc_id": p["id"], "position": k, "action": "add_to_cart"}
                        if rng.random() < PURCHASE_AFTER_CART:
                            yield {"search_id": search, "query": text, "doc_id": p["id"], "position": k, "action": "purchase"}


def ensure_demo_events(demo: DemoCatalog) -> Path:
    """The demo's behaviour log (events.jsonl beside its catalog), written on first use."""
    path = demo.root / EVENTS_FILE
    stamp = demo.root / "EVENTS_VERSION"
    expected = f"{EVENTS_VERSION} {DEFAULT_SEED}\n"
    if path.exists() and stamp.exists() and stamp.read_text() == expected:
        return path
    with file_lock(demo.root / "events.lock"):  # in the catalog folder: shared by every project that links it
        if path.exists() and stamp.exists() and stamp.read_text() == expected:
            return path
        products = [json.loads(line) for line in demo.products.open(encoding="utf-8")]
        with demo.query_log.open(newline="", encoding="utf-8") as fh:
            queries = [(r["query"], int(r["count"])) for r in csv.DictReader(fh)]
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            for event in demo_events(products, queries, DEFAULT_SEED + SEED_OFFSET):
                out.write(json.dumps(event) + "\n")
        tmp.replace(path)
        stamp.write_text(expected)
    return path


def write_ubi_log(path: Path, events: int, queries: int = 1000, docs_per_query: int = 30, seed: int = 1) -> int:
    """A synthetic UBI bulk NDJSON log of `events` events (plus a query document per search): each search shows 10 of
    its query's documents in random order, clicks follow the position-based model over random attractiveness.
    Returns the number of searches."""
    rng = random.Random(seed)
    alpha = [[rng.random() * 0.6 for _ in range(docs_per_query)] for _ in range(queries)]
    action_line = '{"index": {"_index": "ubi_events"}}\n'
    written = n = 0
    with path.open("w", encoding="utf-8") as out:
        while written < events:
            n += 1
            q = rng.randrange(queries)
            head = f'"query_id": "q{n:09d}", "user_query": "query {q}", "timestamp": "2025-01-01T00:00:00Z"'
            out.write('{"index": {"_index": "ubi_queries"}}\n{' + head + "}\n")
            for k, d in enumerate(rng.sample(range(docs_per_query), SHOWN)):
                actions = ("impression", "click") if rng.random() < examination(k) * alpha[q][d] else ("impression",)
                for action in actions[: events - written]:
                    out.write(f'{action_line}{{"action_name": "{action}", {head}, "event_attributes": {{"object": '
                              f'{{"object_id": "d{q}-{d}"}}, "position": {{"ordinal": {k}}}}}}}\n')
                    written += 1
    return n
