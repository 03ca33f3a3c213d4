"""A run's guidelines, prepared once and handed out chunk by chunk.

`prepare` walks every query once: a missing file is written by the configured writer (one writer for the whole
command), a file the store does not hold yet (by its sha256) is parsed and recorded; nothing but each file's sha256
is kept. `for_queries` then gives a chunk's guidelines from the store by file hash, so each file is parsed at most
once per command and memory holds one chunk's guidelines, whatever the number of queries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from evalharness.errors import EvalHarnessError
from evalharness.guidelines.files import file_digest, guideline_path_text, parse_guideline
from evalharness.models import Guideline, Query

PREPARE_CHUNK = 500  # queries whose files are looked up, parsed or written, and recorded at a time


def guideline_row(g: Guideline) -> dict[str, Any]:
    """The store row that records a guideline (by its hash, with its file's sha256)."""
    return {"hash": g.hash, "file_hash": g.file_hash or None, "query": g.query, "path": g.path, "writer": g.writer,
            "model": g.model, "requirements": [r.__dict__ for r in g.requirements], "text": g.text}


class RunGuidelines:
    """Guidelines of one command's queries: files prepared once, then read from the store by file hash."""

    def __init__(self, project: Any, store: Any, writer_spec: str) -> None:
        self.project, self.store, self.writer_spec = project, store, writer_spec
        self.directory: Path = project.guidelines_dir
        self.digests: dict[str, str] = {}  # file path -> sha256 of its bytes
        self.written = 0
        self._writer: Any = None

    def _path(self, text: str) -> str:
        return guideline_path_text(self.directory, text)

    def prepare(self, queries: Sequence[Query], progress: Callable[[int], None] | None = None) -> None:
        """Write the missing files and record in the store each file it does not hold yet."""
        for start in range(0, len(queries), PREPARE_CHUNK):
            chunk = queries[start:start + PREPARE_CHUNK]
            self._prepare(chunk)
            if progress:
                progress(len(chunk))

    def _prepare(self, queries: Sequence[Query]) -> None:
        missing: dict[str, str] = {}
        found: dict[str, str] = {}
        for q in queries:
            key = self._path(q.text)
            if key in self.digests or key in missing or key in found:
                continue
            digest = file_digest(Path(key))
            if digest:
                found[key] = digest
            else:
                missing[key] = q.text
        if found:
            known = self.store.known_guideline_files(sorted(set(found.values())))
            new = [parse_guideline(Path(key)) for key, digest in found.items() if digest not in known]
            self._record(new)
            self.digests.update(found)
        if missing:
            from evalharness.guidelines.writers import make_writer, write_guidelines

            if self._writer is None:
                self._writer = make_writer(self.writer_spec, self.project)
            written = write_guidelines(self.project, self._writer, list(missing.values()))
            self.written += len(missing)
            self._record(written.values())
            for key, g in written.items():
                self.digests[key] = g.file_hash

    def _record(self, guidelines: Iterable[Guideline]) -> None:
        rows = [guideline_row(g) for g in {g.hash: g for g in guidelines}.values()]
        if rows:
            self.store.record_guidelines(rows)

    def for_queries(self, queries: Sequence[Query]) -> dict[str, Guideline]:
        """Guideline per query id (the queries were prepared): from the store by file hash; a file the store no longer
        holds under its hash (another process recorded a newer file of the same guideline) is parsed."""
        from evalharness.store.runread import stored_guidelines

        keys = {q.id: self._path(q.text) for q in queries}
        missing = [key for key in set(keys.values()) if key not in self.digests]
        if missing:
            raise EvalHarnessError(f"guideline {missing[0]} was not prepared; this is a bug")
        stored = stored_guidelines(self.store, {self.digests[key] for key in keys.values()}, by_file=True)
        by_path: dict[str, Guideline] = {}
        for key in set(keys.values()):
            g = stored.get(self.digests[key])
            if g is None:
                g = parse_guideline(Path(key))
            elif g.path != key:
                g = dataclasses.replace(g, path=key)
            by_path[key] = g
        return {qid: by_path[key] for qid, key in keys.items()}
