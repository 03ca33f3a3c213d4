"""Fine-tuning sets from the project's own labels: `labels export --format finetune`.

Each example is one labelled pair: the judge's exact system and user messages (the image as a data URL in image
mode) and, as the assistant turn, the answer JSON the judge's schema asks for, built from the first source in the
priority list that labelled the pair (people first, then a named strong judge). A judge's stored rationale and
per-requirement verdicts are kept when its guideline is the current one; a person's label gets the person's note
(or a sentence naming the label) and `unknown` verdicts, unless a judge source in the list gave the same label under
the current guideline (then that judge's rationale and verdicts). Every answer is checked with the judge's own
parser before it is written.

Train and validation are split by query (no query in both); `rebalance` downsamples the training split's labels to
the rarest one. Chat shapes: OpenAI chat fine-tuning JSONL, Hugging Face chat messages, and Vertex AI Gemini
supervised tuning (text only: its format takes images as Cloud Storage URIs).
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from evalharness.errors import EvalHarnessError
from evalharness.judges.answer import judgment_schema, parse_answer
from evalharness.judges.verdicts import VERDICTS_KEY, verdict_entry, verdict_keys
from evalharness.models import Query
from evalharness.store.labels import iter_labels
from evalharness.store.tables import judgments_t
from evalharness.textnorm import normalize_query, slugify

CHAT_FORMATS = ("openai", "hf", "gemini")


@dataclass(frozen=True)
class SourceLabel:
    """A pair's label from one source, with what the answer can carry."""

    query: str
    doc_id: str
    label: str
    source: str
    rationale: str = ""
    verdicts: list[dict[str, str]] | None = None
    guideline_hash: str = ""


@dataclass
class Example:
    query_id: str
    query: str
    doc_id: str
    label: str
    source: str
    system: str
    user: str
    answer: str
    image_url: str = ""  # data URL in image mode


@dataclass
class FinetuneSet:
    train: list[Example]
    validation: list[Example]
    judge_id: str
    prompt_hash: str
    sources: dict[str, int]
    missing_products: int = 0
    failures: list[str] = field(default_factory=list)
    before_rebalance: dict[str, int] = field(default_factory=dict)

    def distribution(self, split: list[Example]) -> dict[str, int]:
        return dict(Counter(e.label for e in split))

    def manifest(self, chat: str) -> dict[str, Any]:
        return {"format": chat, "judge_id": self.judge_id, "prompt_template_hash": self.prompt_hash,
                "sources": self.sources, "train": {"examples": len(self.train), "queries": len({e.query_id for e in self.train}),
                                                   "labels": self.distribution(self.train)},
                "validation": {"examples": len(self.validation), "queries": len({e.query_id for e in self.validation}),
                               "labels": self.distribution(self.validation)},
                "train_labels_before_rebalance": self.before_rebalance or None,
                "missing_products": self.missing_products, "failures": self.failures}


def judge_labels(store: Any, judge_id: str, spec: str) -> list[SourceLabel]:
    """A judge's judgments (the newest per pair) with their rationale and verdicts."""
    c = judgments_t.c
    newest: dict[tuple[str, str], SourceLabel] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(select(c.query, c.doc_id, c.label, c.rationale, c.details, c.guideline_hash)
                              .where(c.judge_id == judge_id).order_by(c.created_at)):
            details = json.loads(r.details) if isinstance(r.details, str) else r.details or {}
            verdicts = details.get("verdicts") if isinstance(details, dict) else None
            newest[(normalize_query(r.query), r.doc_id)] = SourceLabel(r.query, r.doc_id, r.label, spec, r.rationale,
                                                                       verdicts if isinstance(verdicts, list) else None,
                                                                       r.guideline_hash)
    return list(newest.values())


def collect(store: Any, sources: list[tuple[str, str]]) -> tuple[dict[tuple[str, str], SourceLabel], dict[tuple[str, str], list[SourceLabel]]]:
    """(pair -> label from the first source that has it, pair -> every judge source's label). `sources`: (spec, judge id
    or '' for people)."""
    chosen: dict[tuple[str, str], SourceLabel] = {}
    judged: dict[tuple[str, str], list[SourceLabel]] = {}
    for spec, judge_id in sources:
        rows = ([SourceLabel(s.query, s.doc_id, s.label, spec, s.note) for s in iter_labels(store, spec)] if not judge_id
                else judge_labels(store, judge_id, spec))
        for row in rows:
            key = (normalize_query(row.query), row.doc_id)
            chosen.setdefault(key, row)
            if judge_id:
                judged.setdefault(key, []).append(row)
    return chosen, judged


def answer_json(judge: Any, label: SourceLabel, others: list[SourceLabel], guideline: Any) -> str:
    """The assistant turn: the judge's answer shape (its schema's properties, in order) for this label."""
    reqs = guideline.requirements
    rationale, verdicts = label.rationale.strip(), label.verdicts
    if label.guideline_hash != guideline.hash or verdicts is None or len(verdicts) != len(reqs):
        rationale, verdicts = (rationale if not label.guideline_hash else ""), None
        same = next((o for o in others if o.label == label.label and o.guideline_hash == guideline.hash and o.verdicts is not None
                     and len(o.verdicts) == len(reqs)), None)
        if same is not None:
            rationale, verdicts = rationale or same.rationale.strip(), same.verdicts
    if verdicts is None:
        verdicts = [verdict_entry(r, "unknown") for r in reqs]
    # the answer as the judge's schema for this guideline asks for it: verdicts keyed by requirement (a hole: unknown)
    keyed = {k: (v.get("verdict") or "unknown") for k, v in zip(verdict_keys(reqs), verdicts)}
    values = {"label": label.label, "rationale": rationale or f"People labelled this product {label.label} for this query.",
              VERDICTS_KEY: keyed}
    props = judgment_schema(judge.scheme, judge.reasoning, reqs).get("properties") or {}
    return json.dumps({k: values[k] for k in props if k in values}, ensure_ascii=False)


def split_by_query(examples: list[Example], validation: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Whole queries to validation (a `validation` share of the queries, at least one when there are two or more)."""
    queries = sorted({e.query_id for e in examples})
    random.Random(seed).shuffle(queries)
    n_val = min(len(queries) - 1, max(1, round(validation * len(queries)))) if validation > 0 and len(queries) > 1 else 0
    held = set(queries[:n_val])
    return [e for e in examples if e.query_id not in held], [e for e in examples if e.query_id in held]


def rebalance(examples: list[Example], seed: int) -> list[Example]:
    """Downsample every label to the rarest label's count (a seeded choice, order kept)."""
    by_label: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_label.setdefault(e.label, []).append(i)
    if len(by_label) < 2:
        return examples
    n = min(len(v) for v in by_label.values())
    rng = random.Random(seed)
    keep = {i for v in by_label.values() for i in rng.sample(v, n)}
    return [e for i, e in enumerate(examples) if i in keep]


def build_set(project: Any, store: Any, judge: Any, sources: list[tuple[str, str]], catalog: Path, *, validation: float = 0.2,
              seed: int = 0, balance: bool = False) -> FinetuneSet:
    """Every labelled pair as an example of `judge`'s prompt, split by query."""
    from evalharness.agreement.pairwise import load_hits
    from evalharness.guidelines.writers import ensure_guidelines
    from evalharness.images import ImageLoader
    from evalharness.pipeline.run import build_pairs

    chosen, judged = collect(store, sources)
    if not chosen:
        raise EvalHarnessError(f"no labels in the store for {', '.join(s for s, _ in sources)}; import people's labels or "
                               "run the strong judge first")
    hits = load_hits(catalog, {doc for _, doc in chosen})
    queries: dict[str, Query] = {}
    for q, doc in chosen:
        if doc in hits:
            queries.setdefault(q, Query(slugify(chosen[(q, doc)].query), chosen[(q, doc)].query))
    guidelines, _ = ensure_guidelines(project, list(queries.values()), project.config.guidelines.writer)
    by_query: dict[str, list[Any]] = {}
    for (q, doc) in chosen:
        if doc in hits:
            by_query.setdefault(queries[q].id, []).append(hits[doc])
    images = ImageLoader(project, judge) if judge.mode != "text" else None
    pairs, _, where, failed = build_pairs(list(queries.values()), guidelines, by_query, judge, images)
    by_id = {q.id: key for key, q in queries.items()}
    examples, failures = [], [f"{f['query_id']} {f['doc_id']}: {f['reason']}" for f in failed]
    for p in pairs:
        qid, doc = where[p.key].split("\t")
        key = (by_id[qid], doc)
        label, request = chosen[key], p.request
        answer = answer_json(judge, label, judged.get(key, []), request.guideline)
        parse_answer(answer, judge.scheme, judge.reasoning, request.guideline.requirements)  # the judge's own parser
        image = (f"data:{request.image_mime};base64,{base64.b64encode(request.image).decode()}"
                 if judge.mode == "image" and request.image is not None else "")
        examples.append(Example(qid, request.query.text, doc, label.label, label.source, judge.system_prompt,
                                judge.user_prompt(request), answer, image))
    train, val = split_by_query(examples, validation, seed)
    before = dict(Counter(e.label for e in train)) if balance else {}
    if balance:
        train = rebalance(train, seed)
    counts = Counter(e.source for e in examples)
    prompt_hash = next((part[1:] for part in judge.judge_id.split(":") if part.startswith("p") and len(part) == 13), "")
    return FinetuneSet(train, val, judge.judge_id, prompt_hash, {s: counts.get(s, 0) for s, _ in sources},
                       len({doc for _, doc in chosen} - set(hits)), failures, before)


def chat_line(e: Example, chat: str) -> dict[str, Any]:
    """One JSONL line in the chosen chat shape."""
    if chat == "gemini":
        if e.image_url:
            raise EvalHarnessError("--chat gemini: Vertex AI tuning takes images as Cloud Storage URIs, not inline; export "
                                   "image mode with --chat openai or hf")
        return {"systemInstruction": {"role": "system", "parts": [{"text": e.system}]},
                "contents": [{"role": "user", "parts": [{"text": e.user}]}, {"role": "model", "parts": [{"text": e.answer}]}]}
    user: Any = e.user
    if e.image_url:
        image = {"type": "image_url", "image_url": {"url": e.image_url}} if chat == "openai" else {"type": "image", "url": e.image_url}
        user = [{"type": "text", "text": e.user}, image]
    return {"messages": [{"role": "system", "content": e.system}, {"role": "user", "content": user},
                         {"role": "assistant", "content": e.answer}]}


def write_set(s: FinetuneSet, out_dir: Path, chat: str) -> dict[str, Path]:
    """train.jsonl, validation.jsonl (when not empty) and manifest.json in `out_dir`."""
    if chat not in CHAT_FORMATS:
        raise EvalHarnessError(f"unknown --chat '{chat}'; use {'|'.join(CHAT_FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, split in (("train", s.train), ("validation", s.validation)):
        if split:
            path = out_dir / f"{name}.jsonl"
            path.write_text("".join(json.dumps(chat_line(e, chat), ensure_ascii=False) + "\n" for e in split), encoding="utf-8")
            written[name] = path
    manifest = out_dir / "manifest.json"
    manifest.write_text(json.dumps(s.manifest(chat), indent=2), encoding="utf-8")
    written["manifest"] = manifest
    return written
