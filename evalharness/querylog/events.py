"""Behaviour events from a search log, streamed into counts per (query, document, position) in bounded memory.

The log sources are those `queries pull` reads (UBI bulk NDJSON, CSV, JSON lines, Parquet, SQL), one row per
event: the query text, the document, its position (0-based, as UBI's `event_attributes.position.ordinal`) and the
action. Memory grows with the distinct (query, document, position) cells, never with the number of events.
UBI events that carry no query text are resolved through their search's query document (`query_id`) in a second
pass over the file that keeps only those searches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from evalharness.errors import EvalHarnessError
from evalharness.querylog.aggregate import QueryCounts
from evalharness.querylog.sources import BLOCK_SIZE, _opened, parse_time, sql_batches, ubi_documents

IMPRESSION = "impression"
CLICK_ACTIONS = frozenset({"click", "item_click"})
CART_ACTIONS = frozenset({"add_to_cart"})
PURCHASE_ACTIONS = frozenset({"purchase"})
UBI_FIELDS = {"query": "user_query", "doc": "event_attributes.object.object_id", "position": "event_attributes.position.ordinal",
              "action": "action_name", "search": "query_id", "time": "timestamp"}


@dataclass(frozen=True)
class EventFields:
    """Which fields hold each part of an event; dotted names reach into nested JSON (JSONL, Parquet, UBI)."""

    query: str = "query"
    doc: str = "doc_id"
    position: str = "position"
    action: str = "action"
    time: str | None = None
    search: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def ubi(cls, **overrides: Any) -> EventFields:
        return cls(**{**UBI_FIELDS, **{k: v for k, v in overrides.items() if v is not None}})


@dataclass
class EventCounts:
    """Counts per cell and per pair, what was read and what was left out (and why)."""

    max_rank: int
    privacy: QueryCounts
    cells: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)  # (query key, doc, position) -> [shown, clicked]
    conversions: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (query key, doc) -> [carts, purchases]
    surfaces: dict[str, str] = field(default_factory=dict)  # query key -> the first spelling seen
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, raw_query: str, doc: str, position: int | None, action: str, n: int = 1) -> None:
        """Count n events of one kind (actions other than impressions, clicks, carts and purchases are skipped)."""
        self.events += n
        kind = _kind(action)
        if kind is None:
            self.skipped["other action"] += n
            return
        key = self.privacy.normalize(raw_query) if raw_query else None
        if key is None or key.startswith("\x00"):
            self.skipped["no query" if key is None else "privacy scrub"] += n
            return
        if not doc:
            self.skipped["no document"] += n
            return
        self.surfaces.setdefault(key, raw_query)
        if kind in ("cart", "purchase"):
            slot = self.conversions.setdefault((key, doc), [0, 0])
            slot[0 if kind == "cart" else 1] += n
            return
        if position is None or position < 0:
            self.skipped["no position"] += n
            return
        if position >= self.max_rank:
            self.skipped[f"position {self.max_rank} or beyond (--max-rank)"] += n
            return
        cell = self.cells.setdefault((key, doc, position), [0, 0])
        cell[0 if kind == IMPRESSION else 1] += n


def _kind(action: str) -> str | None:
    a = action.strip().lower()
    if a == IMPRESSION:
        return IMPRESSION
    if a in CLICK_ACTIONS:
        return "click"
    if a in CART_ACTIONS:
        return "cart"
    if a in PURCHASE_ACTIONS:
        return "purchase"
    return None


def _position(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _digger(path: str) -> Callable[[Any], Any]:
    """A reader of one dotted path into nested dicts (a key holding the whole path wins), its parts split once."""
    parts = tuple(path.split("."))
    if len(parts) == 1:
        return lambda doc: doc.get(path) if isinstance(doc, dict) else None

    def dig(doc: Any) -> Any:
        if isinstance(doc, dict) and path in doc:
            return doc[path]
        for part in parts:
            if not isinstance(doc, dict):
                return None
            doc = doc.get(part)
        return doc
    return dig


def _in_window(value: Any, f: EventFields) -> bool:
    if not (f.since or f.until):
        return True
    t = parse_time(value)
    return t is not None and (f.since is None or t >= f.since) and (f.until is None or t < f.until)


FLUSH_AT = 100_000  # distinct raw (query, doc, position, action) tuples held before they are counted


def read_ubi_events(path: Path, f: EventFields, counts: EventCounts) -> None:
    """UBI bulk NDJSON: event documents (action_name) counted; query documents only resolve events without query text.

    Events are first tallied by their raw (query, doc, position, action) and counted per distinct tuple, so query
    normalization runs once per tuple, not once per event (the tally is flushed every FLUSH_AT tuples)."""
    action_of, query_of, pos_of, doc_of = (_digger(x) for x in (f.action, f.query, f.position, f.doc))
    time_of, search_of = _digger(f.time or ""), _digger(f.search or "")
    windowed = bool(f.time and (f.since or f.until))
    tally: Counter[tuple[str, str, int | None, str]] = Counter()
    pending: Counter[tuple[str, str, int | None, str]] = Counter()
    for _, doc in ubi_documents(path):
        action = action_of(doc)
        if action is None or (windowed and not _in_window(time_of(doc), f)):
            continue
        text, obj = query_of(doc), doc_of(doc)
        key = ("" if obj is None else str(obj), _position(pos_of(doc)), str(action))
        if isinstance(text, str) and text.strip():
            tally[(text, *key)] += 1
            if len(tally) >= FLUSH_AT:
                _flush(tally, counts)
        elif f.search and search_of(doc):
            pending[(str(search_of(doc)), *key)] += 1
        else:
            tally[("", *key)] += 1
    _flush(tally, counts)
    if not pending:
        return
    wanted = {k[0] for k in pending}
    texts: dict[str, str] = {}
    for _, doc in ubi_documents(path):
        qid = str(search_of(doc) or "")
        text = query_of(doc)
        if qid in wanted and qid not in texts and isinstance(text, str) and text.strip():
            texts[qid] = text
    for (qid, obj, pos, action), n in pending.items():
        counts.add(texts.get(qid, ""), obj, pos, action, n)


def _flush(tally: Counter[tuple[str, str, int | None, str]], counts: EventCounts) -> None:
    for (text, obj, pos, action), n in tally.items():
        counts.add(text, obj, pos, action, n)
    tally.clear()



def _column(batch: pa.RecordBatch | pa.Table, name: str, source: str, flag: str) -> pa.Array | pa.ChunkedArray:
    names = batch.schema.names
    if name in names:
        return batch.column(name)
    head, _, rest = name.partition(".")
    if rest and head in names:
        try:
            return pc.struct_field(batch.column(head), rest.split("."))
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError, TypeError):
            pass
    raise EvalHarnessError(f"{source}: no field '{name}' ({flag}); available: {', '.join(names)}")


def feed_batch(batch: pa.RecordBatch | pa.Table, f: EventFields, counts: EventCounts, source: str) -> None:
    """Count one batch of event rows: grouped in Arrow so Python sees each distinct (query, doc, position, action) once."""
    cols = {"q": _column(batch, f.query, source, "--query-field"), "d": _column(batch, f.doc, source, "--doc-field"),
            "p": _column(batch, f.position, source, "--position-field"), "a": _column(batch, f.action, source, "--action-field")}
    table = pa.table({k: (v if pa.types.is_string(v.type) or k == "p" else pc.cast(v, pa.string())) for k, v in cols.items()})
    if f.time and (f.since or f.until):
        times = _column(batch, f.time, source, "--time-field").to_pylist()
        table = table.filter(pa.array([_in_window(t, f) for t in times], type=pa.bool_()))
    if not pa.types.is_integer(table["p"].type):
        try:
            table = table.set_column(2, "p", pc.cast(table["p"], pa.int64()))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise EvalHarnessError(f"{source}: field '{f.position}' must hold whole-number positions") from None
    grouped = table.group_by(["q", "d", "p", "a"], use_threads=False).aggregate([([], "count_all")])
    for q, d, p, a, n in zip(*(grouped[c].to_pylist() for c in ("q", "d", "p", "a", "count_all"))):
        counts.add(q or "", d or "", p, a or "", int(n))


def tabular_batches(fmt: str, path: Path, f: EventFields) -> Iterator[pa.RecordBatch]:
    """Batches of a CSV, JSON-lines or Parquet event log."""
    if fmt == "csv":
        import pyarrow.csv as pcsv

        text_cols = {c: pa.string() for c in (f.query, f.doc, f.action)}
        reader = _opened(path, "CSV log", lambda: pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=BLOCK_SIZE),
                                                                convert_options=pcsv.ConvertOptions(column_types=text_cols)))
        yield from reader
    elif fmt == "jsonl":
        import pyarrow.json as pjson

        yield from _opened(path, "JSON-lines log", lambda: pjson.open_json(path, read_options=pjson.ReadOptions(block_size=BLOCK_SIZE)))
    else:
        import pyarrow.parquet as pq

        pf = _opened(path, "Parquet file", lambda: pq.ParquetFile(path))
        wanted = {c.split(".")[0] for c in (f.query, f.doc, f.position, f.action, f.time) if c}
        yield from pf.iter_batches(batch_size=200_000, columns=[c for c in pf.schema_arrow.names if c in wanted] or None)


def read_events(fmt: str, source: str, path: Path | None, f: EventFields, counts: EventCounts,
                table: str | None = None, sql: str | None = None) -> None:
    """Stream any supported log into counts."""
    if fmt == "ubi":
        assert path is not None
        read_ubi_events(path, f, counts)
        return
    columns = [c for c in dict.fromkeys((f.query, f.doc, f.position, f.action, f.time)) if c]
    try:
        batches = sql_batches(source, table, sql, columns) if fmt == "sql" else tabular_batches(fmt, path, f)  # type: ignore[arg-type]
        for batch in batches:
            feed_batch(batch, f, counts, table or source if fmt == "sql" else str(path))
    except pa.ArrowInvalid as exc:
        raise EvalHarnessError(f"{source}: cannot parse the {fmt} log ({str(exc).splitlines()[0]})") from None
