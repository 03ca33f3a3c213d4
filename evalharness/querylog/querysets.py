"""Query sets as CSV files: id, query, count, segment."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from evalharness.catalog.products import not_utf8
from evalharness.errors import EvalHarnessError, csv_error
from evalharness.models import Query

COLUMNS = ("id", "query", "count", "segment")


def read_query_set(path: Path) -> list[Query]:
    """Read a query set; needs at least a 'query' column, and one query."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EvalHarnessError(f"cannot read query set {path}: {exc.strerror}; pass --queries with an existing CSV") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise not_utf8(path, raw[:exc.start].count(b"\n") + 1, exc, "query set") from None
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            queries = _rows(path, reader)
        except csv.Error as exc:  # a field over the csv module's limit: usually a quote never closed
            raise csv_error(path, exc, reader.line_num) from None
    if not queries:
        raise EvalHarnessError(f"{path}: the query set is empty; add rows with a 'query' column")
    return queries


def _rows(path: Path, reader: csv.DictReader) -> list[Query]:
    """The queries of a query-set CSV; a blank query or a negative count is named with its row."""
    if not reader.fieldnames or "query" not in reader.fieldnames:
        raise EvalHarnessError(f"{path}: needs a header with a 'query' column (columns: {', '.join(COLUMNS)})")
    queries, seen = [], set()
    for n, row in enumerate(reader, 2):
        text = (row.get("query") or "").strip()
        if not text:
            raise EvalHarnessError(f"{path}:{n}: the query is blank; fill it in or delete the row")
        qid = (row.get("id") or "").strip() or f"q{n - 1}"
        if qid in seen:
            raise EvalHarnessError(f"{path}:{n}: duplicate id '{qid}'; ids must be unique")
        seen.add(qid)
        try:
            count = int(float(row.get("count") or 1))
        except (ValueError, OverflowError):
            raise EvalHarnessError(f"{path}:{n}: count '{row.get('count')}' is not a number") from None
        if count < 0:
            raise EvalHarnessError(f"{path}:{n}: count {count} is negative; a count is how often the query was searched (0 or more)")
        queries.append(Query(qid, text, count, (row.get("segment") or "").strip()))
    return queries


def write_query_set(path: Path, queries: Sequence[Query], extra: Mapping[str, Mapping[str, object]] | None = None) -> None:
    """Write a query set CSV; `extra` adds columns per query id (e.g. searches, clicks, ctr)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra_cols = sorted({k for v in (extra or {}).values() for k in v}, key=lambda k: list(next(iter(extra.values()))).index(k)) if extra else []
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([*COLUMNS, *extra_cols])
        for q in queries:
            more = (extra or {}).get(q.id, {})
            w.writerow([q.id, q.text, q.count, q.segment, *(more.get(c, "") for c in extra_cols)])
