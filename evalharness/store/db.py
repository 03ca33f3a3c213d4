"""SQLAlchemy tables and the Store that reads and writes them.

SQLite (WAL) by default, any SQLAlchemy URL accepted (PostgreSQL for teams). Alembic owns
the schema (store/schema.py, store/migrations/); judgments are written in small groups by one writer
(store/writer.py) so a killed run keeps what it paid for.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    ArgumentError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)

from evalharness.errors import EvalHarnessError
from evalharness.models import Hit, Judgment
from evalharness.store.connect import (
    open_when_free,
    pool_errors_unprinted,
    read_only_error,
    roll_back_on_interrupt,
    safe_url,
    sqlite_file,
    sqlite_pragmas,
    store_problem,
    supported_url,
)
from evalharness.store.ranked import hit_json_writer, ranked_json
from evalharness.store.rawrows import raw_sql_rows
from evalharness.store.schema import ensure_current
from evalharness.store.schema import upgrade as upgrade_schema
from evalharness.store.tables import (
    captions_t,
    guidelines_t,
    judgments_t,
    queries_t,
    run_queries_t,
    run_results_t,
    runs_t,
)

KEY_CHUNK = 5000  # cache keys per lookup statement: within SQLite's and PostgreSQL's parameter limits


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StoredQuery:
    """One query of a stored run with its hits (ordered by rank)."""

    id: str
    text: str
    count: int
    segment: str
    guideline_hash: str
    hits: list[Hit]
    content_hashes: list[str]
    error: str | None = None


@dataclass(frozen=True)
class StoredRun:
    """A run's header row."""

    run_id: str
    engine_config: str
    config_hash: str
    config: dict[str, Any]
    judge_id: str
    top_k: int
    status: str
    started_at: str
    finished_at: str | None
    metrics: dict[str, float]
    counts: dict[str, int]
    cost_usd: float
    elapsed_s: float | None

    @property
    def catalog(self) -> str | None:
        """The catalog the run searched ('demo', a JSONL path, a cluster index), as the run recorded it."""
        return self.config.get("catalog")


def _as_dict(value: Any) -> dict:
    """A JSON column's value as a dict (drivers return str or dict; NULL becomes {})."""
    return json.loads(value) if isinstance(value, str) else (value or {})


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
           overwrite: Sequence[str] = ()) -> None:
    """Insert rows; a row whose key is already stored is left alone, or has the `overwrite` columns replaced.

    One INSERT .. ON CONFLICT on SQLite and PostgreSQL, so two processes writing the same key never collide."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        mod = importlib.import_module(f"sqlalchemy.dialects.{dialect}")
        stmt = mod.insert(table)
        if overwrite:
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in overwrite})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, list(rows))
        return
    for row in rows:  # other dialects: check, then write (no concurrency promise)
        where = [table.c[k] == row[k] for k in keys]
        if conn.execute(select(*[table.c[k] for k in keys]).where(*where)).first() is None:
            conn.execute(insert(table), [row])
        elif overwrite:
            conn.execute(update(table).where(*where).values({c: row[c] for c in overwrite}))


def _insert_ignore_sqlite(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """SQLite: rows (values ready for the driver) inserted by one executemany; a row whose key is stored is left alone."""
    if not rows:
        return
    columns = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES ({', '.join('?' * len(columns))}) "
           f"ON CONFLICT ({', '.join(map(quote, keys))}) DO NOTHING")
    conn.exec_driver_sql(sql, [tuple(row[c] for c in columns) for row in rows])


class Store:
    """Reads and writes the evalharness tables through one SQLAlchemy engine."""

    def __init__(self, url: str, *, upgrade: bool = False) -> None:
        """Open the store; an empty one is created at the newest schema. A store at an older schema revision is
        refused with a one-line error, unless `upgrade` (the `store upgrade` command): then it is migrated in place
        and `schema_change` holds (revision before, revision after)."""
        self.url = url
        self.schema_change: tuple[str | None, str] | None = None
        target = supported_url(url)
        try:
            file = sqlite_file(url)
            if file is not None:
                file.parent.mkdir(parents=True, exist_ok=True)
            try:
                self.engine: Engine = create_engine(target, future=True)
            except ImportError as exc:  # the URL's database driver is not installed
                if target.get_backend_name() == "postgresql":
                    raise EvalHarnessError("install the PostgreSQL driver: pip install 'evalharness[postgres]' "
                                           f"(the store {safe_url(url)} needs psycopg)") from None
                raise EvalHarnessError(f"the store {safe_url(url)} needs a database driver that is not installed "
                                       f"({exc.name or exc}); install it or set [store] url to sqlite:///.evalharness/cache.db") from None
            if self.engine.dialect.name == "sqlite":
                event.listen(self.engine, "connect", sqlite_pragmas)
                event.listen(self.engine, "handle_error", roll_back_on_interrupt)
            pool_errors_unprinted()
            event.listen(self.engine, "handle_error", read_only_error)
            if upgrade:
                self.schema_change = upgrade_schema(self.engine)
            else:
                open_when_free(lambda: ensure_current(self.engine, safe_url(url)))
        except EvalHarnessError:
            raise
        except (ArgumentError, NoSuchModuleError) as exc:
            raise EvalHarnessError(f"store URL {safe_url(url)} is not usable ({type(exc).__name__}); "
                                   "set [store] url to a SQLAlchemy URL such as sqlite:///.evalharness/cache.db") from None
        except (OperationalError, SQLAlchemyError, OSError) as exc:
            problem = store_problem(getattr(exc, "orig", None) or exc, target)
            if problem is not None:
                raise problem from None
            reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
            raise EvalHarnessError(f"cannot open store {safe_url(url)}: {reason}; check [store] url and that the database is up") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- queries and guidelines -------------------------------------------------
    def upsert_queries(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or update queries by id in one statement per batch (safe against a concurrent writer)."""
        rows = list(rows)
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 500):
                upsert(conn, queries_t, rows[start:start + 500], ["id"], overwrite=["text", "count", "segment"])

    def record_guidelines(self, rows: Iterable[dict[str, Any]]) -> None:
        """Store guidelines by hash in one transaction; a hash already stored is left alone but for its file's sha256
        (the newest file with that content: a rewrite that changed only `created:` is then read from the store)."""
        now = utcnow()
        rows = [{**row, "created_at": row.get("created_at") or now} for row in rows]
        with self.engine.begin() as conn:
            for start in range(0, len(rows), 500):
                upsert(conn, guidelines_t, rows[start:start + 500], ["hash"], overwrite=["file_hash"] if "file_hash" in rows[0] else ())

    def guidelines_by_hash(self, hashes: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored guidelines among these guideline files' sha256 (`file_hash`): file hash -> the guideline's hash
        (what the judge reads), query, writer, model, requirements (dicts) and text, as recorded."""
        cols = guidelines_t.c
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(hashes), 500):
                chunk = list(hashes[start:start + 500])
                for r in conn.execute(select(cols.file_hash, cols.hash, cols.query, cols.writer, cols.model, cols.requirements,
                                             cols.text).where(cols.file_hash.in_(chunk))):
                    reqs = json.loads(r.requirements) if isinstance(r.requirements, str) else r.requirements
                    found[r.file_hash] = {"hash": r.hash, "query": r.query, "writer": r.writer, "model": r.model,
                                          "requirements": reqs or [], "text": r.text}
        return found

    def known_guideline_files(self, hashes: Sequence[str]) -> set[str]:
        """Which of these guideline files' sha256 the store has recorded (nothing decoded)."""
        col = guidelines_t.c.file_hash
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(hashes), 500):
                found.update(r[0] for r in conn.execute(select(col).where(col.in_(list(hashes[start:start + 500])))))
        return found

    # -- judgments ------------------------------------------------------------------
    def cached_judgments(self, keys: Sequence[str]) -> dict[str, Judgment]:
        """Judgments already stored under these cache keys."""
        found: dict[str, Judgment] = {}
        cols = judgments_t.c
        with self.engine.connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                for row in conn.execute(select(judgments_t).where(cols.cache_key.in_(chunk))):
                    found[row.cache_key] = Judgment(row.label, row.rationale, row.judge_id, row.input_tokens,
                                                    row.output_tokens, row.cost_usd, row.latency_ms, _as_dict(row.details),
                                                    row.confidence)
        return found

    def judged_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these cache keys have a stored judgment (keys only: nothing decoded)."""
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(keys), KEY_CHUNK):  # hand-written: SQLAlchemy would compile each long IN list
                part = keys[start:start + KEY_CHUNK]
                sql = f"SELECT cache_key FROM judgments WHERE cache_key IN ({', '.join(['?'] * len(part))})"
                found.update(r[0] for r in raw_sql_rows(conn, sql, part))
        return found

    def get_caption(self, key: str) -> str | None:
        """A cached image caption (caption mode), keyed by image hash + query + model + prompt."""
        with self.engine.connect() as conn:
            row = conn.execute(select(captions_t.c.caption).where(captions_t.c.key == key)).first()
        return row[0] if row else None

    def put_caption(self, key: str, model: str, caption: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        self._insert_ignore(captions_t, "key", {"key": key, "model": model, "caption": caption, "input_tokens": input_tokens,
                                               "output_tokens": output_tokens, "cost_usd": cost_usd, "created_at": utcnow()})

    def _insert_ignore(self, table: Table, pk: str, row: dict[str, Any]) -> None:
        """Insert now and commit; a row already stored under the same key wins."""
        with self.engine.begin() as conn:
            upsert(conn, table, [row], [pk])

    def put_judgment(self, key: str, query: str, doc_id: str, content: str, guideline_hash: str, j: Judgment) -> None:
        """Commit one judgment now (a second writer of the same key is ignored)."""
        row = {
            "cache_key": key, "judge_id": j.judge_id, "query": query, "doc_id": doc_id, "content_hash": content,
            "guideline_hash": guideline_hash, "label": j.label, "rationale": j.rationale,
            "input_tokens": j.input_tokens, "output_tokens": j.output_tokens, "cost_usd": j.cost_usd,
            "latency_ms": j.latency_ms, "created_at": utcnow(), "details": j.details or None, "confidence": j.confidence,
        }
        self._insert_ignore(judgments_t, "cache_key", row)

    def count_judgments(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(judgments_t)).scalar_one())

    # -- runs -------------------------------------------------------------------------
    def start_run(self, run: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(runs_t), [{**run, "status": "running", "started_at": utcnow()}])

    def mark_stale_runs(self, gone: Callable[[dict[str, Any]], bool]) -> list[str]:
        """Mark `running` rows as `interrupted` when `gone(process)` says their process has died (SIGKILL, power cut).

        A run records its process (pid, host, start time) in its config. Returns the run ids marked."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs_t.c.run_id, runs_t.c.config).where(runs_t.c.status == "running")).all()
        stale = []
        for row in rows:
            if gone(_as_dict(row.config).get("process") or {}):
                stale.append(row.run_id)
        if stale:
            with self.engine.begin() as conn:
                conn.execute(update(runs_t).where(runs_t.c.run_id.in_(stale), runs_t.c.status == "running")
                             .values(status="interrupted", finished_at=utcnow()))
        return stale

    def save_results(self, run_id: str, queries: Sequence[StoredQuery], hit_json: Callable[[Hit], str] | None = None,
                     share_from: str | None = None) -> int:
        """Store a run's lists in one transaction: a row per query (with its compact ranked list) and a row per hit; a
        row already stored is left alone. With `share_from` (an earlier run of the same engine config), a query whose
        ranked list (which names each hit's stored row exactly: store/ranked.py) is the one that run stored writes no
        hit rows: its row names the run holding them (`results_run`). Returns how many queries shared their hit rows.
        On SQLite the hit JSON is serialized here (as SQLAlchemy's JSON type would: `json.dumps`, by `hit_json`, one
        writer per command) and the rows go to the driver's executemany in one prepared insert-or-ignore each."""
        sqlite = self.engine.dialect.name == "sqlite"
        hit_json = hit_json or hit_json_writer()  # a product listed for many queries: its fields written once
        earlier = self._shareable_lists(share_from, [q.id for q in queries]) if share_from else {}
        qrows, written = [], []
        for q in queries:
            ranked = ranked_json(q.hits, q.content_hashes)
            source = run_id
            if earlier.get(q.id, ("", ""))[0] == ranked:
                source = earlier[q.id][1]
            else:
                written.append(q)
            qrows.append({"run_id": run_id, "query_id": q.id, "text": q.text, "count": q.count, "segment": q.segment,
                          "guideline_hash": q.guideline_hash, "n_hits": len(q.hits), "error": q.error, "ranked": ranked,
                          "results_run": source})

        def hit_rows() -> Iterator[list[dict[str, Any]]]:  # in groups: the rows of all hits are never held at once
            group: list[dict[str, Any]] = []
            for q in written:
                for hit, chash in zip(q.hits, q.content_hashes):
                    group.append({"run_id": run_id, "query_id": q.id, "rank": hit.rank, "doc_id": hit.doc_id,
                                  "score": hit.score, "content_hash": chash, "hit": hit_json(hit) if sqlite else hit.to_json()})
                if len(group) >= 5000:
                    yield group
                    group = []
            yield group

        with self.engine.begin() as conn:
            if sqlite:
                _insert_ignore_sqlite(conn, run_queries_t, qrows, ["run_id", "query_id"])
                for hrows in hit_rows():
                    _insert_ignore_sqlite(conn, run_results_t, hrows, ["run_id", "query_id", "rank"])
                return len(queries) - len(written)
            for start in range(0, len(qrows), 500):
                upsert(conn, run_queries_t, qrows[start:start + 500], ["run_id", "query_id"])
            for hrows in hit_rows():
                for start in range(0, len(hrows), 500):
                    upsert(conn, run_results_t, hrows[start:start + 500], ["run_id", "query_id", "rank"])
        return len(queries) - len(written)

    def _shareable_lists(self, run_id: str, query_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """query id -> (ranked list, the run holding its hit rows) of a run's queries whose rows can be shared."""
        c = run_queries_t.c
        out: dict[str, tuple[str, str]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(query_ids), 500):
                for qid, ranked, source in conn.execute(select(c.query_id, type_coerce(c.ranked, Text), c.results_run).where(
                        c.run_id == run_id, c.query_id.in_(list(query_ids[start:start + 500])), c.results_run.is_not(None))):
                    out[qid] = (ranked, source)
        return out

    def previous_run(self, engine_config: str, before: str) -> str | None:
        """The newest other run of an engine config (any status): whose stored lists a new run may share."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs_t.c.run_id).where(runs_t.c.engine_config == engine_config, runs_t.c.run_id != before)
                               .order_by(runs_t.c.started_at.desc(), runs_t.c.run_id.desc()).limit(1)).first()
        return row[0] if row else None

    def finish_run(self, run_id: str, status: str, metrics: dict[str, float], counts: dict[str, int],
                   cost_usd: float, elapsed_s: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(
                status=status, finished_at=utcnow(), metrics=metrics, counts=counts, cost_usd=cost_usd, elapsed_s=elapsed_s))

    def set_run_status(self, run_id: str, status: str, counts: dict[str, int]) -> None:
        """A finished run's status and counts revised after it was scored (a label source's holes make it partial)."""
        with self.engine.begin() as conn:
            conn.execute(update(runs_t).where(runs_t.c.run_id == run_id).values(status=status, counts=counts))

    def _run_from_row(self, row: Any) -> StoredRun:
        as_dict = _as_dict
        return StoredRun(row.run_id, row.engine_config, row.config_hash, as_dict(row.config), row.judge_id, row.top_k,
                         row.status, row.started_at, row.finished_at, as_dict(row.metrics), as_dict(row.counts),
                         row.cost_usd or 0.0, row.elapsed_s)

    def get_run(self, run_id: str) -> StoredRun | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs_t).where(runs_t.c.run_id == run_id)).first()
        return self._run_from_row(row) if row else None

    def latest_run(self, engine_config: str) -> StoredRun | None:
        """The newest finished run of an engine config."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs_t).where(runs_t.c.engine_config == engine_config, runs_t.c.status == "finished")
                               .order_by(runs_t.c.started_at.desc(), runs_t.c.run_id.desc())).first()
        return self._run_from_row(row) if row else None

    def list_runs(self, limit: int = 20) -> list[StoredRun]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs_t).order_by(runs_t.c.started_at.desc(), runs_t.c.run_id.desc()).limit(limit)).all()
        return [self._run_from_row(r) for r in rows]

    def run_queries(self, run_id: str) -> list[StoredQuery]:
        """A stored run's queries with their hits, in query order of insertion."""
        r = run_results_t.c
        with self.engine.connect() as conn:
            qrows = conn.execute(select(run_queries_t).where(run_queries_t.c.run_id == run_id)).all()
            hrows = list(conn.execute(select(run_results_t).where(r.run_id == run_id).order_by(r.query_id, r.rank)))
            shared: dict[str, list[str]] = {}  # queries whose hit rows an earlier run holds, by that run
            for q in qrows:
                if q.results_run and q.results_run != run_id:
                    shared.setdefault(q.results_run, []).append(q.query_id)
            for source, ids in shared.items():
                for start in range(0, len(ids), 500):
                    hrows += conn.execute(select(run_results_t).where(r.run_id == source, r.query_id.in_(ids[start:start + 500]))
                                          .order_by(r.query_id, r.rank)).all()
        hits: dict[str, list[Any]] = {}
        for h in hrows:
            hits.setdefault(h.query_id, []).append(h)
        out = []
        for q in qrows:
            rows = hits.get(q.query_id, [])
            out.append(StoredQuery(q.query_id, q.text, q.count, q.segment, q.guideline_hash,
                                   [Hit.from_json(r.hit if isinstance(r.hit, dict) else json.loads(r.hit)) for r in rows],
                                   [r.content_hash for r in rows], q.error))
        return out
