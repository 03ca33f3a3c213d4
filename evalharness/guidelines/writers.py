"""Pick a guideline writer by spec and fill guidelines/ with the missing files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from evalharness.catalog.products import iter_products, resolve_catalog
from evalharness.errors import EvalHarnessError
from evalharness.guidelines.files import file_hash, guideline_path, parse_guideline, stored_guideline, write_guideline
from evalharness.guidelines.offline import OfflineGuidelineWriter, Vocabulary
from evalharness.llm.providers import PROVIDERS
from evalharness.models import Guideline, Query
from evalharness.project import Project


class GuidelineWriter(Protocol):
    writer_id: str
    model: str

    def write(self, query: str) -> Guideline:
        """Requirements and guideline text for one query."""


def make_writer(spec: str, project: Project) -> GuidelineWriter:
    """'offline' or '<provider>:<model>' (an LLM writer)."""
    provider, _, model = spec.partition(":")
    if provider == "offline":
        catalog = resolve_catalog(project, project.config.guidelines.catalog)
        return OfflineGuidelineWriter(Vocabulary.from_products(iter_products(catalog)))
    if provider in PROVIDERS:
        from evalharness.guidelines.llm import LLMGuidelineWriter

        return LLMGuidelineWriter(provider, model, project.config)
    raise EvalHarnessError(f"unknown guideline writer '{spec}'; use offline, openai:<model>, gemini:<model> or anthropic:<model>")


def write_guidelines(project: Project, writer: GuidelineWriter, queries: Sequence[str], overwrite: bool = False
                     ) -> dict[str, Guideline]:
    """Write a guideline file per query with `writer`; returns path -> guideline as stored. Each file is written the
    moment it exists, so a later failure loses none already paid for. Without `overwrite` an existing file wins."""
    written: dict[str, Guideline] = {}
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def save(g: Guideline) -> None:
        stored = write_guideline(project.guidelines_dir, Guideline(g.query, g.requirements, g.text, g.writer, g.model, created),
                                 overwrite=overwrite)
        written[stored.path] = stored

    many = getattr(writer, "write_many", None)
    if many:
        many(list(queries), save)
    else:
        for text in queries:
            save(writer.write(text))
    return written


def ensure_guidelines(
    project: Project, queries: Sequence[Query], writer_spec: str, progress: Callable[[int], None] | None = None,
    known: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None,
) -> tuple[dict[str, Guideline], int]:
    """Guideline per query id; missing files are written, existing ones used as they are. Returns (map, written).
    `known(file hashes)`: what the store already holds of these guideline files (`Store.guidelines_by_hash`); a
    file it holds is read and hashed but not parsed again."""
    directory = project.guidelines_dir
    by_path: dict[str, Guideline] = {}
    missing: dict[str, str] = {}
    existing: dict[str, Path] = {}
    for q in queries:
        path = guideline_path(directory, q.text)
        if str(path) in by_path or str(path) in missing or str(path) in existing:
            continue
        if not path.exists():
            missing[str(path)] = q.text
        elif known is None:
            by_path[str(path)] = parse_guideline(path)
        else:
            existing[str(path)] = path
    if existing and known is not None:
        digests = {key: file_hash(path) for key, path in existing.items()}
        stored = known(sorted(set(digests.values())))
        for key, path in existing.items():
            row = stored.get(digests[key])
            by_path[key] = stored_guideline(row, digests[key], path) if row is not None else parse_guideline(path)
    if missing:
        by_path.update(write_guidelines(project, make_writer(writer_spec, project), list(missing.values())))
    out = {}
    for q in queries:
        out[q.id] = by_path[str(guideline_path(directory, q.text))]
        if progress:
            progress(1)
    return out, len(missing)
