"""The store's tables on one MetaData.

The core tables live here. A new concern (labels, claims, batches, image scores, ...) defines its
tables in its own module under evalharness/store/ on this same `metadata` and adds that module to
CONCERN_MODULES, so `load_all_tables()` registers it before the schema is created or migrated.
"""

from __future__ import annotations

import importlib

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table, Text

CONCERN_MODULES: tuple[str, ...] = ("evalharness.store.batches", "evalharness.store.claims", "evalharness.store.image_scores",
                                     "evalharness.store.labels", "evalharness.store.rating",
                                     "evalharness.store.trust", "evalharness.store.behaviour",
                                     "evalharness.store.calibration")


def load_all_tables() -> MetaData:
    """Import every concern module so all tables are on `metadata`; returns it."""
    for name in CONCERN_MODULES:
        importlib.import_module(name)
    return metadata


metadata = MetaData()

queries_t = Table(
    "queries", metadata,
    Column("id", String(200), primary_key=True),
    Column("text", Text, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("segment", String(40), nullable=False, default=""),
)

guidelines_t = Table(
    "guidelines", metadata,
    Column("hash", String(64), primary_key=True),
    Column("query", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("writer", String(200), nullable=False),
    Column("model", String(200), nullable=False, default=""),
    Column("requirements", JSON, nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("file_hash", String(64), nullable=True),  # sha256 of the file's bytes (the hash covers what a judge reads)
    Index("ix_guidelines_file_hash", "file_hash"),
)

runs_t = Table(
    "runs", metadata,
    Column("run_id", String(80), primary_key=True),
    Column("engine_config", String(200), nullable=False, index=True),
    Column("config_hash", String(64), nullable=False),
    Column("config", JSON, nullable=False),
    Column("judge_id", String(400), nullable=False),
    Column("top_k", Integer, nullable=False),
    Column("queries_source", Text, nullable=False),
    Column("status", String(20), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("metrics", JSON),
    Column("counts", JSON),
    Column("cost_usd", Float, default=0.0),
    Column("elapsed_s", Float),
)

run_queries_t = Table(
    "run_queries", metadata,
    Column("run_id", String(80), primary_key=True),
    Column("query_id", String(200), primary_key=True),
    Column("text", Text, nullable=False),
    Column("count", Integer, nullable=False),
    Column("segment", String(40), nullable=False),
    Column("guideline_hash", String(64), nullable=False),
    Column("n_hits", Integer, nullable=False),
    Column("error", Text),
    Column("ranked", Text),  # JSON [doc ids, content hashes, ranks, scores]: the list without reading its hits
    Column("results_run", String(80)),  # the run whose run_results rows hold these hits (shared when the list is unchanged)
)

run_results_t = Table(
    "run_results", metadata,
    Column("run_id", String(80), primary_key=True),
    Column("query_id", String(200), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("doc_id", String(200), nullable=False),
    Column("score", Float, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("hit", JSON, nullable=False),
)

judgments_t = Table(
    "judgments", metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("judge_id", String(400), nullable=False),
    Column("query", Text, nullable=False),
    Column("doc_id", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("guideline_hash", String(64), nullable=False),
    Column("label", String(20), nullable=False),
    Column("rationale", Text, nullable=False),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("latency_ms", Float, nullable=False, default=0.0),
    Column("created_at", String(40), nullable=False),
    Column("details", JSON),  # per-judgment extras: votes, verdicts, image fallback, ...
    Column("confidence", Float),  # the probability the judge gave its label (logprobs, samples or votes); NULL if none
    Index("ix_judgments_pool", "guideline_hash", "judge_id"),
    Index("ix_judgments_pairs", "guideline_hash", "judge_id", "doc_id"),  # a comparison's pairs, looked up one by one
)


captions_t = Table(
    "captions", metadata,
    Column("key", String(64), primary_key=True),
    Column("model", String(200), nullable=False),
    Column("caption", Text, nullable=False),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Float, nullable=False, default=0.0),
    Column("created_at", String(40), nullable=False),
)
