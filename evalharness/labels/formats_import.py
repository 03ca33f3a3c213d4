"""`labels import`: read a label file, resolve query ids, map values, refuse conflicts, store atomically.

Everything is checked before anything is written: a bad row stops the import with one line naming the
file, the row and the fix, and labels stored by earlier imports stay as they were.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalharness.errors import EvalHarnessError
from evalharness.labels.formats_map import LabelMap, unmapped_hint
from evalharness.labels.formats_read import STDIN, RawLabel, json_lines, read_text
from evalharness.store.labels import put_labels
from evalharness.textnorm import normalize_query


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    source: str
    rows: int
    new: int
    changed: int
    unchanged: int
    unknown_query_ids: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def read_query_ids(path: Path) -> dict[str, str]:
    """Query id -> text from a query-set CSV (`id,query`), a JSONL file (`id`/`query_id` + `text`/`query`) or TREC topics."""
    if path != STDIN and not path.is_file():
        raise EvalHarnessError(f"cannot read query file {path}: no such file; pass --queries with an existing file")
    text = read_text(path)
    out: dict[str, str] = {}
    first = next((line for line in text.splitlines() if line.strip()), "")
    if path.suffix.lower() in (".jsonl", ".json") or (path == STDIN and first.lstrip().startswith("{")):
        for n, obj in json_lines(path):
            if not isinstance(obj, dict):
                raise EvalHarnessError(f"{path}:line {n}: a query line is a JSON object with 'id' and 'text'")
            qid, qtext = obj.get("id", obj.get("query_id")), obj.get("text", obj.get("query"))
            if qid is None or not qtext:
                raise EvalHarnessError(f"{path}:line {n}: a query needs 'id' and 'text' (or 'query')")
            out[str(qid)] = str(qtext)
        return out
    if path.suffix.lower() == ".csv" or (path == STDIN and "," in first):
        rows = csv.DictReader(text.splitlines())
        if not rows.fieldnames or "query" not in rows.fieldnames or "id" not in rows.fieldnames:
            raise EvalHarnessError(f"{path}: a query file needs 'id' and 'query' columns")
        return {r["id"].strip(): r["query"] for r in rows if (r.get("id") or "").strip() and (r.get("query") or "").strip()}
    for n, line in enumerate(text.splitlines(), 1):  # TREC topics as 'qid<TAB>text' lines
        if line.strip():
            qid, sep, qtext = line.strip().partition("\t") if "\t" in line else line.strip().partition(" ")
            if not sep or not qtext.strip():
                raise EvalHarnessError(f"{path}:line {n}: a topics line is 'qid<TAB>query text'")
            out[qid] = qtext.strip()
    return out


def prepare_rows(raw: Sequence[RawLabel], label_map: LabelMap, query_ids: Mapping[str, str], path: Path,
                 origin: str) -> tuple[list[dict[str, str]], int]:
    """Rows for put_labels; (rows, how many rows named an unknown query id). Raises on the first problem."""
    if not raw:
        raise EvalHarnessError(f"{path}: no labels found; check --format and the file's header")
    unmapped = [r for r in raw if label_map(r.value) is None]
    if unmapped:
        raise EvalHarnessError(f"{unmapped[0].where}: {unmapped_hint((r.value for r in unmapped), label_map)}")
    rows, unknown, seen = [], 0, {}
    for r in raw:
        query = r.query
        if query is None:
            query = query_ids.get(r.query_id or "")
            if query is None:
                unknown += 1
                continue
        if not query.strip() or not r.doc_id:
            raise EvalHarnessError(f"{r.where}: empty query or doc id; fill it in or remove the row")
        label = label_map(r.value)
        key = (normalize_query(query), r.doc_id)
        prev = seen.get(key)
        if prev is not None and prev[0] != label:
            raise EvalHarnessError(f"{r.where}: query {query!r} doc {r.doc_id!r} is labelled {label!r} here but {prev[0]!r} at "
                                   f"{prev[1]}; keep one of the two rows")
        seen[key] = (label, r.where)
        rows.append({"query": query, "doc_id": r.doc_id, "label": label, "note": r.note, "origin": origin,
                     "query_id": r.query_id or ""})
    if not rows:
        ids = sorted({r.query_id or "" for r in raw})[:3]
        raise EvalHarnessError(f"{path}: none of its query ids ({', '.join(ids)}, ...) is in the query file; pass --queries FILE "
                               "mapping those ids to query text (a query-set CSV with id,query or JSONL with id,text)")
    return rows, unknown


def import_labels(store: Any, source: str, raw: Sequence[RawLabel], label_map: LabelMap, query_ids: Mapping[str, str],
                  path: Path) -> ImportResult:
    """Check every row, then store them all in one transaction."""
    rows, unknown = prepare_rows(raw, label_map, query_ids, path, origin=f"file:{path.name}")
    counts = put_labels(store, source, rows)
    return ImportResult(source, len(rows), counts["new"], counts["changed"], counts["unchanged"], unknown)


def project_query_ids(paths: Iterable[Path]) -> dict[str, str]:
    """Query id -> text from every query-set CSV given (later files do not override earlier ids)."""
    out: dict[str, str] = {}
    for p in paths:
        for qid, text in read_query_ids(p).items():
            out.setdefault(qid, text)
    return out
