"""The store's schema version: create a fresh store at the newest revision, refuse an older or newer one, upgrade.

Alembic owns the schema (evalharness/store/migrations/). A fresh store is created from the table metadata
and stamped at the head revision; the migrations test checks that the two give the same schema. The first
start is serialised (a PostgreSQL advisory lock; a file lock beside a SQLite file), so concurrent first
starts create the schema once.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Engine

from evalharness.errors import EvalHarnessError
from evalharness.store.tables import load_all_tables

MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # release 0.1.0, which had no version table
_PG_LOCK_ID = 0x6576616C  # any constant shared by every evalharness process


@lru_cache(maxsize=1)
def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    """The newest revision this code knows."""
    heads = _script().get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads; they must form one chain")
    return heads[0]


_REVISION = re.compile(r'^revision = ["\'](\w+)["\']$', re.M)
_DOWN_REVISION = re.compile(r'^down_revision = (?:None|["\'](\w+)["\'])$', re.M)


@lru_cache(maxsize=1)
def quick_head() -> str | None:
    """The head revision read from the migration files without importing alembic (a third of a short command's
    time); None unless every file names its revision and one parent and they form one chain (then alembic decides)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        text = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and len(parents) == len(revisions) - 1 else None


def _stamped_revision(conn: Connection) -> str | None:
    """The revision in the store's alembic_version table (None without the table or a single row)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    return rows[0][0] if len(rows) == 1 else None


def known_revisions() -> set[str]:
    return {s.revision for s in _script().walk_revisions()}


def _alembic_config(conn: Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def current_revision(conn: Connection) -> str | None:
    """The store's revision; BASELINE for a release-0.1.0 store without a version table; None for an empty store."""
    from alembic.runtime.migration import MigrationContext

    rev = MigrationContext.configure(conn).get_current_revision()
    if rev is None and inspect(conn).has_table("judgments"):
        return BASELINE
    return rev


@contextlib.contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """One connection in a transaction that only one evalharness process at a time holds for this store."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_ID})")
            yield conn
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    lock_file = None
    if database and database != ":memory:":
        with contextlib.suppress(OSError):  # a read-only folder: nothing can be created there anyway
            lock_file = open(f"{database}.schema-lock", "a+")  # noqa: SIM115 - closed below
    try:
        if lock_file is not None:
            try:
                import fcntl

                fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
            except ImportError:  # no fcntl (Windows): SQLite's own locking still prevents corruption
                pass
        with engine.begin() as conn:
            yield conn
    finally:
        if lock_file is not None:
            lock_file.close()


def ensure_current(engine: Engine, shown_url: str) -> None:
    """Create an empty store at the head revision; raise a one-line error when the store is older or newer."""
    quick = quick_head()
    if quick is not None:
        with engine.connect() as conn:
            if _stamped_revision(conn) == quick:  # the common case, decided without alembic
                return
    head = head_revision()
    with engine.connect() as conn:
        rev = current_revision(conn)
    if rev == head:
        return
    # Not at head (empty, older, or being created by another process right now: SQLite commits each CREATE TABLE
    # at once, so a store half-way through creation looks like a release-0.1 store). Decide under the lock, after
    # whoever holds it has finished.
    with schema_lock(engine) as conn:
        rev = current_revision(conn)
        if rev is None:
            from alembic.runtime.migration import MigrationContext

            load_all_tables().create_all(conn)
            MigrationContext.configure(conn).stamp(_script(), head)
            return
    if rev == head:
        return
    if rev in known_revisions():
        raise EvalHarnessError(f"the store {shown_url} has schema revision {rev}, older than this evalharness ({head}); "
                               "run `evalharness store upgrade` (back it up first if it is shared)")
    raise EvalHarnessError(f"the store {shown_url} has schema revision {rev}, newer than this evalharness knows ({head}); "
                           "upgrade evalharness")


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the store to the head revision (idempotent); returns (revision before, revision after)."""
    from alembic import command

    head = head_revision()
    with schema_lock(engine) as conn:
        before = current_revision(conn)
        if before is None:
            from alembic.runtime.migration import MigrationContext

            load_all_tables().create_all(conn)
            MigrationContext.configure(conn).stamp(_script(), head)
            return None, head
        if before not in known_revisions():
            raise EvalHarnessError(f"the store has schema revision {before}, newer than this evalharness knows ({head}); "
                                   "upgrade evalharness")
        cfg = _alembic_config(conn)
        if before == BASELINE and not inspect(conn).has_table("alembic_version"):
            command.stamp(cfg, BASELINE)
        if before != head:
            command.upgrade(cfg, "head")
    return before, head
