"""Log sources read in bounded memory: CSV, JSON lines, Parquet (pyarrow), SQL (SQLAlchemy), UBI bulk NDJSON."""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from evalharness.catalog.products import not_utf8
from evalharness.errors import EvalHarnessError
from evalharness.querylog.aggregate import QueryCounts
from evalharness.textnorm import normalize_query

BLOCK_SIZE = 8 << 20
FORMATS = ("csv", "jsonl", "parquet", "ubi", "sql")


@dataclass(frozen=True)
class Fields:
    """Which columns hold the query, a pre-aggregated count and a timestamp."""

    query: str
    count: str | None = None
    time: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class EventStats:
    """UBI event statistics per normalized query.

    A search is one query_id. searches: distinct query_ids of the query; clicked: those with at least one
    click event (CTR = clicked / searches); clicks, add_to_cart, purchases: event counts; zero_results:
    searches whose result list was empty: a query document asking for hits lists none (an empty
    query_response_hit_ids) and no query document of the same search lists any. A request that asks for no hits
    (`"size": 0` in its logged query body: a facet or count request) says nothing about the result list."""

    search_ids: dict[str, set[str]] = field(default_factory=dict)
    clicked_ids: dict[str, set[str]] = field(default_factory=dict)
    zero_ids: dict[str, set[str]] = field(default_factory=dict)
    clicks: Counter[str] = field(default_factory=Counter)
    add_to_cart: Counter[str] = field(default_factory=Counter)
    purchases: Counter[str] = field(default_factory=Counter)

    def per_query(self, norm: str) -> dict[str, float]:
        searches = len(self.search_ids.get(norm, ()))
        clicked = len(self.clicked_ids.get(norm, ()))
        return {"searches": searches, "clicks": self.clicks[norm], "ctr": round(clicked / searches, 4) if searches else 0.0,
                "add_to_cart": self.add_to_cart[norm], "purchases": self.purchases[norm],
                "zero_results": len(self.zero_ids.get(norm, ()))}

    def __bool__(self) -> bool:
        return bool(self.search_ids or self.clicks)


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 strings or epoch milliseconds/seconds -> aware UTC datetime; None if unparseable."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        text = str(value).strip().replace("Z", "+00:00")
        dt = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def local_path(source: str, tmp: list[Path]) -> Path:
    """A local file for a path or an http(s) URL (downloaded once to a temporary file)."""
    if source.startswith(("http://", "https://")):
        fd, name = tempfile.mkstemp(prefix="evalharness-log-")
        path = Path(name)
        tmp.append(path)
        try:
            with urllib.request.urlopen(source, timeout=60) as resp, open(fd, "wb") as out:  # noqa: S310
                shutil.copyfileobj(resp, out)
        except OSError as exc:
            raise EvalHarnessError(f"cannot download {source}: {exc}; check the URL") from None
        return path
    path = Path(source).expanduser()
    if not path.is_file():
        raise EvalHarnessError(f"cannot read log {source}: no such file; pass --source with an existing file or URL")
    return path


def _check_columns(available: list[str], fields: Fields, source: str) -> None:
    for label, name in (("--query-field", fields.query), ("--count-field", fields.count), ("--time-field", fields.time)):
        if name and name not in available:
            raise EvalHarnessError(f"{source}: unknown field '{name}' ({label}); available: {', '.join(available)}")


def _time_mask(col: pa.ChunkedArray | pa.Array, fields: Fields) -> pa.Array:
    times = [parse_time(v) for v in col.to_pylist()]
    return pa.array([t is not None and (fields.since is None or t >= fields.since) and (fields.until is None or t < fields.until)
                     for t in times])


def _feed(batch: pa.RecordBatch | pa.Table, fields: Fields, counts: QueryCounts) -> None:
    if fields.time and (fields.since or fields.until):
        batch = batch.filter(_time_mask(batch.column(fields.time), fields))
    q = batch.column(fields.query)
    if not pa.types.is_string(q.type) and not pa.types.is_large_string(q.type):
        q = pc.cast(q, pa.string())
    counts.add_batch(q, batch.column(fields.count) if fields.count else None)


def _opened(path: Path, what: str, opener: Callable[[], Any]) -> Any:
    """Open a pyarrow reader; an unreadable file becomes one line naming it."""
    try:
        return opener()
    except (pa.ArrowInvalid, OSError) as exc:
        raise EvalHarnessError(f"{path}: not a readable {what} ({str(exc).splitlines()[0]})") from None


def _batches_csv(path: Path, fields: Fields) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    reader = _opened(path, "CSV log", lambda: pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=BLOCK_SIZE),
        convert_options=pcsv.ConvertOptions(column_types={fields.query: pa.string()})))
    _check_columns(reader.schema.names, fields, str(path))
    yield from reader


def _batches_jsonl(path: Path, fields: Fields) -> Iterator[pa.RecordBatch]:
    import pyarrow.json as pjson

    reader = _opened(path, "JSON-lines log", lambda: pjson.open_json(path, read_options=pjson.ReadOptions(block_size=BLOCK_SIZE)))
    _check_columns(reader.schema.names, fields, str(path))
    yield from reader


def _batches_parquet(path: Path, fields: Fields) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    pf = _opened(path, "Parquet file", lambda: pq.ParquetFile(path))
    _check_columns(pf.schema_arrow.names, fields, str(path))
    yield from pf.iter_batches(batch_size=200_000, columns=[c for c in (fields.query, fields.count, fields.time) if c])


def read_tabular(fmt: str, path: Path, fields: Fields, counts: QueryCounts) -> None:
    """Stream a CSV, JSONL or Parquet log into counts."""
    reader = {"csv": _batches_csv, "jsonl": _batches_jsonl, "parquet": _batches_parquet}[fmt]
    try:
        for batch in reader(path, fields):
            _feed(batch, fields, counts)
    except pa.ArrowInvalid as exc:
        raise EvalHarnessError(f"{path}: cannot parse the {fmt} log ({str(exc).splitlines()[0]})") from None


def read_sql(url: str, table: str | None, sql: str | None, fields: Fields, counts: QueryCounts) -> None:
    """Stream rows of a table or a SELECT from any SQLAlchemy URL."""
    columns = [c for c in dict.fromkeys((fields.query, fields.count, fields.time)) if c]
    for batch in sql_batches(url, table, sql, columns, lambda names: _check_columns(names, fields, table or "the SELECT")):
        _feed(batch, fields, counts)


def sql_batches(url: str, table: str | None, sql: str | None, columns: list[str],
                check: Callable[[list[str]], None] | None = None) -> Iterator[pa.Table]:
    """Rows of a table (these columns) or of a SELECT from any SQLAlchemy URL, 50,000 at a time; `check` sees the column names."""
    import sqlalchemy as sa

    if not table and not sql:
        raise EvalHarnessError("--format sql needs --table NAME or --sql 'SELECT ...'")
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError):
        raise EvalHarnessError(f"'{url.split('@')[-1]}' is not a usable SQLAlchemy URL; e.g. sqlite:///log.db or "
                               "postgresql+psycopg://user@host/db") from None
    try:
        with engine.connect() as conn:
            query = sa.text(sql) if sql else sa.select(sa.table(table, *(sa.column(c) for c in columns)))
            result = conn.execution_options(stream_results=True, max_row_buffer=50_000).execute(query)
            names = list(result.keys())
            if check is not None:
                check(names)
            for part in result.partitions(50_000):
                cols = list(zip(*part)) if part else [[] for _ in names]
                yield pa.table({n: pa.array(list(c)) for n, c in zip(names, cols)})
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        raise EvalHarnessError(f"SQL source failed: {reason}; check the URL, --table or --sql") from None
    finally:
        engine.dispose()


_CLICKS = {"click", "item_click"}


COUNT_BY = ("searches", "records")


def read_ubi(path: Path, fields: Fields, counts: QueryCounts, stats: EventStats, count_by: str = "searches") -> None:
    """OpenSearch User Behavior Insights bulk NDJSON: query documents (user_query) and event documents (action_name).

    count_by "searches" (default): a query's count is its distinct searches (query_ids; a query document
    without one counts once). "records": every record that names it (its query documents and the events
    that carry user_query). The `searches` statistic is always the distinct query_ids.
    """
    qid_to_query: dict[str, str] = {}
    counted: set[str] = set()  # query_ids already counted as a search
    listed: set[tuple[str, str]] = set()  # (query, query_id) of searches a query document lists hits for
    empty: set[tuple[str, str]] = set()  # (query, query_id) of searches with an empty result list logged
    pending: list[tuple[str, str]] = []
    query_field = fields.query if fields.query != "query" else "user_query"
    for _, doc in ubi_documents(path):
        if fields.time and (fields.since or fields.until):
            t = parse_time(doc.get(fields.time))
            if t is None or (fields.since and t < fields.since) or (fields.until and t >= fields.until):
                continue
        text = doc.get(query_field)
        action = doc.get("action_name")
        qid = str(doc.get("query_id") or "")
        norm = ""
        if isinstance(text, str) and text.strip():
            if count_by == "records":
                counts.add(text)
            elif qid and qid not in counted:  # the first record of a search (query_id)
                counted.add(qid)
                counts.add(text)
            elif not qid and action is None:  # a query document without an id: one search
                counts.add(text)
            norm = normalize_query(text)
            if qid:
                stats.search_ids.setdefault(norm, set()).add(qid)
                qid_to_query.setdefault(qid, norm)
            hits = doc.get("query_response_hit_ids")
            if action is None and qid and isinstance(hits, list):
                if hits:
                    listed.add((norm, qid))
                elif _asks_for_hits(doc):
                    empty.add((norm, qid))
        if action is not None:
            if norm:
                _count_event(stats, norm, qid, str(action))
            elif qid:
                pending.append((qid, str(action)))
    for qid, action in pending:
        if qid in qid_to_query:
            _count_event(stats, qid_to_query[qid], qid, action)
    for norm, qid in empty - listed:
        stats.zero_ids.setdefault(norm, set()).add(qid)


def _asks_for_hits(doc: dict[str, Any]) -> bool:
    """Whether a UBI query document's request asked for hits: not when its logged query body says `"size": 0`."""
    body = doc.get("query")
    if isinstance(body, str) and body.lstrip().startswith("{"):
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return True
    return not (isinstance(body, dict) and body.get("size") == 0)


def _count_event(stats: EventStats, norm: str, qid: str, action: str) -> None:
    if action in _CLICKS:
        stats.clicks[norm] += 1
        if qid:
            stats.clicked_ids.setdefault(norm, set()).add(qid)
    elif action == "add_to_cart":
        stats.add_to_cart[norm] += 1
    elif action == "purchase":
        stats.purchases[norm] += 1


_ACTION_LINES = (b'{"index":', b'{"create":')  # bulk action lines, skipped without parsing


def ubi_documents(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """The documents of a UBI bulk NDJSON file with their line numbers; bulk action lines are skipped."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip() or raw.startswith(_ACTION_LINES):
                continue
            try:
                doc = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise not_utf8(path, lineno, exc, "UBI log") from None
            except json.JSONDecodeError:
                raise EvalHarnessError(f"{path}:{lineno}: not valid JSON; a UBI file is bulk NDJSON (action line, document)") from None
            if isinstance(doc, dict) and not set(doc) <= {"index", "create"}:
                yield lineno, doc
