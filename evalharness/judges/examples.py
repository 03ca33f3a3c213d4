"""Few-shot examples for LLM judges: `[judge] examples = "labels/examples.jsonl"`.

Each line: {"query", "label", "rationale", and either "product": {fields} or "doc_id" (looked up in the
`[guidelines] catalog`)}. For each pair the judge shows up to `examples_per_label` examples per label,
preferring examples of the hit's product type. A hash of the examples shown is part of the judge id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.catalog.products import product_type_of
from evalharness.config import ProjectConfig
from evalharness.errors import EvalHarnessError
from evalharness.labels.schemes import LabelScheme
from evalharness.models import HIDDEN_ATTRIBUTES, Hit, canonical_json, sha256_hex

PRODUCT_FIELDS = ("title", "description", "brand", "color", "category", "price", "attributes")


@dataclass(frozen=True)
class Example:
    """One labelled (query, product) pair shown to the judge."""

    query: str
    product: dict[str, Any]
    label: str
    rationale: str
    product_type: str

    def to_prompt(self) -> dict[str, Any]:
        return {"query": self.query, "product": self.product, "label": self.label, "rationale": self.rationale}


@dataclass(frozen=True)
class ExampleSet:
    """The examples of a file and how many to show per label."""

    examples: tuple[Example, ...]
    per_label: int
    hash: str

    def pick(self, hit: Hit) -> list[Example]:
        """Up to per_label examples for each label, those of the hit's product type first (file order otherwise)."""
        wanted = str(hit.attributes.get("product_type") or "").casefold() or \
            product_type_of({"category": hit.category}).casefold()
        chosen: list[Example] = []
        by_label: dict[str, list[Example]] = {}
        for ex in self.examples:
            by_label.setdefault(ex.label, []).append(ex)
        for items in by_label.values():
            ranked = sorted(items, key=lambda e: e.product_type.casefold() != wanted)  # stable: same type first
            chosen.extend(ranked[: self.per_label])
        return chosen


def _product(raw: dict[str, Any]) -> dict[str, Any]:
    fields = {k: raw[k] for k in PRODUCT_FIELDS if raw.get(k) not in (None, "", {})}
    attrs = {k: v for k, v in (raw.get("attributes") or {}).items() if k not in HIDDEN_ATTRIBUTES}
    for name in ("product_type", "material", "audience", "size"):
        if raw.get(name) not in (None, ""):
            attrs.setdefault(name, raw[name])
    if attrs:
        fields["attributes"] = attrs
    return fields


def _catalog_products(config: ProjectConfig, ids: set[str]) -> dict[str, dict[str, Any]]:
    from evalharness.catalog.products import iter_products, resolve_catalog
    from evalharness.project import Project

    if config.root is None:
        raise EvalHarnessError("examples with a doc_id need a project (the catalog is looked up there); give 'product' fields instead")
    path = resolve_catalog(Project(config.root), config.guidelines.catalog)
    found = {}
    for product in iter_products(path):
        if str(product["id"]) in ids:
            found[str(product["id"])] = product
            if len(found) == len(ids):
                break
    return found


def load_examples(config: ProjectConfig, scheme: LabelScheme) -> ExampleSet | None:
    """Read `[judge] examples`; each problem is one line naming the file and line."""
    cfg = config.judge
    if not cfg.examples or cfg.examples_per_label == 0:
        return None
    path = Path(cfg.examples).expanduser()
    if not path.is_absolute() and config.root is not None:
        path = config.root / path
    try:
        raw = path.read_bytes()
        lines = raw.decode("utf-8").splitlines()
    except OSError:
        raise EvalHarnessError(f"[judge] examples: cannot read {path}; create it (JSONL: query, product or doc_id, label, "
                               "rationale) or remove the key") from None
    except UnicodeDecodeError:
        raise EvalHarnessError(f"{path}: not UTF-8 text; save the examples file as UTF-8") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalHarnessError(f"{path}:{lineno}: not valid JSON ({exc.msg}); fix or remove the line") from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or row.get("label") not in scheme.names:
            raise EvalHarnessError(f"{path}:{lineno}: an example needs 'query' and a 'label' of the {scheme.name} scheme "
                                   f"({', '.join(scheme.names)})")
        if not isinstance(row.get("product"), dict) and not row.get("doc_id"):
            raise EvalHarnessError(f"{path}:{lineno}: an example needs 'product' fields or a 'doc_id' from the catalog")
        rows.append((lineno, row))
    wanted = {str(r["doc_id"]) for _, r in rows if not isinstance(r.get("product"), dict)}
    catalog = _catalog_products(config, wanted) if wanted else {}
    examples = []
    for lineno, row in rows:
        product = row["product"] if isinstance(row.get("product"), dict) else catalog.get(str(row["doc_id"]))
        if product is None:
            raise EvalHarnessError(f"{path}:{lineno}: doc_id {row['doc_id']!r} is not in the catalog "
                                   f"{config.guidelines.catalog!r}; give 'product' fields instead")
        examples.append(Example(row["query"], _product(product), row["label"], str(row.get("rationale") or ""),
                                product_type_of(product)))
    # the hash covers what the judge is shown (a doc_id example changes when its catalog product does)
    digest = sha256_hex(canonical_json({"examples": [[e.to_prompt(), e.product_type] for e in examples],
                                        "k": cfg.examples_per_label}))[:12]
    return ExampleSet(tuple(examples), cfg.examples_per_label, digest)
