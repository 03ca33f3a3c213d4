"""Opening a store's engine: the URL checked and its driver chosen, SQLite's pragmas, and the one-line errors for a
store that cannot be read or written."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import ArgumentError, OperationalError

from evalharness.errors import EvalHarnessError


def open_when_free(check: Callable[[], None], attempts: int = 6) -> None:
    """Run the schema check, retrying while another process that is creating the same fresh SQLite store holds it
    locked beyond the busy timeout (concurrent first starts on a loaded machine)."""
    for attempt in range(attempts):
        try:
            check()
            return
        except OperationalError as exc:
            if attempt == attempts - 1 or "database is locked" not in str(getattr(exc, "orig", exc)):
                raise
            time.sleep(0.5 * (attempt + 1))


def sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=10000")  # first, so that the journal-mode switch below waits for a concurrent opener
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def roll_back_on_interrupt(ctx: Any) -> None:
    """A Ctrl-C or SIGTERM inside a statement on SQLite: roll its transaction back at once. SQLAlchemy then invalidates
    the connection without a rollback, and SQLite keeps a connection whose statement is still referenced (by the
    traceback the interrupt is handled with) open when it is closed: its open transaction would hold the write lock,
    so the command's next write (marking its run interrupted) would wait out the busy timeout and fail."""
    if isinstance(ctx.original_exception, Exception) or ctx.connection is None:  # not an exit exception
        return
    import sqlite3

    try:
        ctx.connection.connection.dbapi_connection.rollback()
    except sqlite3.Error:  # the connection is unusable: it is invalidated and closed next, as without this step
        pass


def pool_errors_unprinted() -> None:
    """SQLAlchemy's pool logs what it swallows or re-raises while closing or resetting a connection (a Ctrl-C landing
    there included) with a traceback; with no logging configured, Python prints it on stderr under the command's own
    one-line outcome. A NullHandler keeps it off stderr; handlers a program using evalharness configures still get it."""
    import logging

    pool = logging.getLogger("sqlalchemy.pool")
    if not any(isinstance(h, logging.NullHandler) for h in pool.handlers):
        pool.addHandler(logging.NullHandler())


def read_only_error(ctx: Any) -> Exception | None:
    """A store that cannot be written or read (read-only, disk full, damaged) becomes one line naming it and the fix."""
    url = ctx.engine.url if ctx.engine is not None else None
    return store_problem(ctx.original_exception, url) if url is not None else None


def store_problem(exc: BaseException, url: Any) -> EvalHarnessError | None:
    """One line for a store that is read-only, on a full disk, damaged or failing I/O; None for other errors."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = first.lower()
    sqlite = url.get_backend_name() == "sqlite"
    where = (url.database or "").removeprefix("file:") if sqlite else safe_url(str(url))
    if "readonly database" in text or "read-only" in text or "unable to open database file" in text:
        return EvalHarnessError(f"the store {where} is read-only ({first}); make the "
                                "file and its folder writable, or set [store] url in evalharness.toml to a writable store")
    if "disk is full" in text or "no space left" in text or "could not extend file" in text:
        return EvalHarnessError(f"the disk holding the store {where} is full ({first}); free some space or set [store] url "
                                "to a store on another disk, then run again (what is stored is kept)")
    if "file is not a database" in text or "malformed" in text or "not a database" in text:
        return EvalHarnessError(f"the store {where} is damaged or is not an evalharness store ({first}); move it away "
                                "(restore a backup if you have one) or set [store] url to another file, then run again")
    if "disk i/o error" in text and sqlite and _disk_full(where):
        return EvalHarnessError(f"the disk holding the store {where} is full ({first}); free some space or set [store] url "
                                "to a store on another disk, then run again (what is stored is kept)")
    if "disk i/o error" in text:
        return EvalHarnessError(f"the store {where} could not be read or written ({first}); check the disk it is on "
                                "(space, file size limits, permissions) and run again")
    return None


def _disk_full(path: str) -> bool:
    """Whether the file system holding `path` has (almost) no room left: SQLite then reports a disk I/O error."""
    try:
        return shutil.disk_usage(Path(path).parent).free < (1 << 16)
    except OSError:
        return False


def sqlite_file(url: str) -> Path | None:
    """The database file of a plain SQLite URL (None for other URLs, :memory: and `file:` URIs)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return None if path.startswith("file:") else Path(path)


def supported_url(url: str) -> Any:
    """The parsed store URL: SQLite or PostgreSQL (a bare postgresql:// uses psycopg 3, the driver the extra installs)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise EvalHarnessError(f"store URL {safe_url(url)} is not usable; set [store] url to a SQLAlchemy URL such as "
                               "sqlite:///.evalharness/cache.db") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise EvalHarnessError(f"store URL {safe_url(url)} names a {backend} database; evalharness keeps its store in SQLite or "
                               "PostgreSQL: set [store] url to sqlite:///.evalharness/cache.db or postgresql+psycopg://USER@HOST/DB")
    return parsed.set(drivername="postgresql+psycopg") if parsed.drivername == "postgresql" else parsed


def safe_url(url: str) -> str:
    """The URL with any password hidden, for error messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
