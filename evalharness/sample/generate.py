"""Deterministic generator of the demo catalog, its images and its query log."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import evalharness.sample.vocabulary as V
from evalharness.runtime.filelock import file_lock

DEFAULT_SEED = 20240917
DEFAULT_PRODUCTS = 2400
DEGRADED_SHARE = 0.18
FORMAT_VERSION = 2


@dataclass(frozen=True)
class DemoCatalog:
    """Where the generated demo catalog lives."""

    root: Path

    @property
    def products(self) -> Path:
        return self.root / "catalog.jsonl"

    @property
    def query_log(self) -> Path:
        return self.root / "querylog.csv"

    @property
    def images(self) -> Path:
        return self.root / "images"


def _title(rng: random.Random, p: dict) -> str:
    spec = V.PRODUCT_TYPES[p["product_type"]]
    name = rng.choice(spec["names"])
    audience = rng.choice(V.AUDIENCE_WORDS[p["audience"]]) if p["audience"] else ""
    model = rng.choice(V.MODEL_WORDS)
    color, material, brand = p["color"].title(), p["material"].title(), p["brand"]
    pattern = rng.randrange(6)
    parts = {
        0: [brand, model, name],
        1: [brand, audience, color, name],
        2: [brand, model, material, name, "in", color],
        3: [color, name, "by", brand],
        4: [brand, audience, material, name],
        5: [brand, model, audience, name, "-", color],
    }[pattern]
    return " ".join(x for x in parts if x)


def _description(rng: random.Random, p: dict) -> str:
    adj = rng.sample(V.ADJECTIVES, 2)
    other = rng.choice([t for t in V.PRODUCT_TYPES if t != p["product_type"]])
    sentences = [
        f"A {adj[0]} {p['product_type']} made from {p['material']}, finished in {p['color']}.",
        f"Designed by {p['brand']} for {rng.choice(V.USES)} and {rng.choice(V.USES)}.",
        f"{adj[1].capitalize()} and easy to care for.",
    ]
    if p["audience"] and p["audience"] != "unisex":
        sentences.append(f"Cut for {p['audience']}.")
    if p["size"]:
        sentences.append(f"Size {p['size'].upper()}.")
    if rng.random() < 0.4:
        sentences.append(f"Pairs well with our {rng.choice(list(V.COLORS))} {other}.")
    rng.shuffle(sentences)
    return " ".join(sentences)


def generate_products(n: int, seed: int) -> list[dict]:
    """Product records with real variety of type, brand, color, material, audience, size and price."""
    rng = random.Random(seed)
    types = list(V.PRODUCT_TYPES)
    products = []
    for i in range(n):
        ptype = types[i % len(types)] if i < len(types) * 4 else rng.choice(types)
        spec = V.PRODUCT_TYPES[ptype]
        audience = "unisex" if ptype in V.UNISEX_ONLY else rng.choice(V.AUDIENCES)
        if ptype == "dress" and audience == "men":
            audience = "women"
        p = {
            "id": f"P{i:05d}",
            "product_type": ptype,
            "brand": rng.choice(V.BRANDS),
            "color": rng.choice(list(V.COLORS)),
            "material": rng.choice(spec["materials"]),
            "audience": audience,
            "size": rng.choice(spec["sizes"]) if spec["sizes"] else "",
            "category": spec["category"],
            "price": round(spec["price"] * rng.lognormvariate(0, 0.35), 2),
            "degradation": rng.choice(V.DEGRADATIONS) if rng.random() < DEGRADED_SHARE else "none",
        }
        p["title"] = _title(rng, p)
        p["description"] = _description(rng, p)
        p["image"] = f"images/{p['id']}.png"
        products.append(p)
    _discounts(products, random.Random(seed + 3))
    return products


def _discounts(products: list[dict], rng: random.Random) -> None:
    """A `discount` (percent) per product: like marketplace clearance listings, products with a poor photo are
    mostly deeply discounted, the others seldom are (an engine that boosts discounts surfaces poor photos)."""
    for p in products:
        deep = rng.random() < (0.85 if p["degradation"] != "none" else 0.08)
        p["discount"] = rng.randint(25, 60) if deep else rng.randint(0, 20)


def _queries(rng: random.Random, products: list[dict]) -> list[str]:
    combos: set[str] = set()
    aud_word = {"women": ["women's", "womens", "for women"], "men": ["men's", "mens"], "kids": ["kids"]}
    for p in products:
        t, c, b, m, a = p["product_type"], p["color"], p["brand"].lower(), p["material"], p["audience"]
        combos.update({t, f"{c} {t}", f"{b} {t}", f"{m} {t}"})
        if rng.random() < 0.25:
            combos.add(f"{c} {m} {t}")
        if rng.random() < 0.2:
            combos.add(f"{b} {c} {t}")
        if a in aud_word and rng.random() < 0.3:
            w = rng.choice(aud_word[a])
            combos.add(f"{t} {w}" if w.startswith("for") else f"{w} {t}")
            if rng.random() < 0.3:
                combos.add(f"{w} {c} {t}" if not w.startswith("for") else f"{c} {t} {w}")
        if p["size"] and rng.random() < 0.08:
            combos.add(f"{t} size {p['size']}")
    ordered = sorted(combos - set(V.PRODUCT_TYPES))
    rng.shuffle(ordered)
    chosen = list(V.PRODUCT_TYPES) + ordered[:290]
    for typos in V.MISSPELLINGS.values():
        chosen.extend(typos[:1])
        if rng.random() < 0.5:
            chosen.append(f"{rng.choice(list(V.COLORS))} {typos[-1]}")
    chosen.extend(V.ZERO_RESULT_QUERIES)
    return list(dict.fromkeys(chosen))


def generate_query_log(products: list[dict], seed: int) -> list[tuple[str, int]]:
    """Distinct queries with Zipf-like counts: short head queries dominate, a long tail of singletons."""
    rng = random.Random(seed + 1)
    queries = _queries(rng, products)
    typos = {t for ts in V.MISSPELLINGS.values() for t in ts} | set(V.ZERO_RESULT_QUERIES)
    # Head: the bare product types; then shorter queries tend to be more frequent than longer ones,
    # and misspellings and zero-result queries sit in the torso and tail.
    def weight(q: str) -> float:
        if q in V.PRODUCT_TYPES:
            return rng.random()
        penalty = 1.5 if (q in typos or q.split()[-1] in typos) else 0.0
        return len(q.split()) + penalty + rng.random() * 1.5
    queries.sort(key=weight)
    return [(q, max(1, round(6000 / (rank ** 1.15)))) for rank, q in enumerate(queries, 1)]


def write_catalog(target: Path, n: int = DEFAULT_PRODUCTS, seed: int = DEFAULT_SEED) -> DemoCatalog:
    """Generate the demo catalog into target (products, images, query log)."""
    from evalharness.sample.images import draw_product  # Pillow only when the catalog is generated

    demo = DemoCatalog(target)
    demo.images.mkdir(parents=True, exist_ok=True)
    products = generate_products(n, seed)
    img_rng = random.Random(seed + 2)
    for p in products:
        img = draw_product(p["product_type"], V.COLORS[p["color"]], p["degradation"], img_rng)
        img.save(demo.root / p["image"], format="PNG", compress_level=1)
    tmp = demo.products.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for p in products:
            fh.write(json.dumps(p, sort_keys=True) + "\n")
    with demo.query_log.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["query", "count"])
        writer.writerows(generate_query_log(products, seed))
    (demo.root / "VERSION").write_text(f"{FORMAT_VERSION} {n} {seed}\n")
    tmp.replace(demo.products)
    return demo


def ensure_demo_catalog(cache_dir: Path) -> DemoCatalog:
    """Return the demo catalog under cache_dir, generating it on first use."""
    demo = DemoCatalog(cache_dir / "demo")
    version = demo.root / "VERSION"
    expected = f"{FORMAT_VERSION} {DEFAULT_PRODUCTS} {DEFAULT_SEED}\n"

    def ready() -> bool:
        return demo.products.exists() and version.exists() and version.read_text() == expected

    if ready():
        return demo
    with file_lock(cache_dir / "demo.lock"):  # a concurrent first run waits and reuses this one's catalog
        return demo if ready() else write_catalog(demo.root)

