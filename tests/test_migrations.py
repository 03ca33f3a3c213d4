"""Alembic owns the schema: one chain, migrations equal the metadata, a release-0.1.0 store upgrades in place."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from conftest import REPO, assert_user_error, run_cli
from sqlalchemy import create_engine, text

from evalharness.errors import EvalHarnessError
from evalharness.store import Store
from evalharness.store.runread import pair_pool, run_hits, run_lists, stored_pairs
from evalharness.store.schema import MIGRATIONS, head_revision
from evalharness.store.tables import load_all_tables

FIXTURE = REPO / "tests" / "fixtures" / "release-0.1.0"  # see its README.md: a store made by release 0.1.0


def _schema_diff(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), load_all_tables())
    finally:
        engine.dispose()


def _migrate_empty(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            cfg = Config()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def test_one_linear_chain_of_revisions() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    assert len(script.get_heads()) == 1, "two migrations share a down_revision: point yours at main's head"
    assert len(script.get_bases()) == 1
    assert head_revision() == script.get_current_head()


def test_the_quick_head_check_agrees_with_alembic() -> None:
    from evalharness.store.schema import quick_head

    assert quick_head() == head_revision()  # an open store at head is recognised without importing alembic


def test_migrations_build_exactly_the_metadata_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    _migrate_empty(url)
    assert _schema_diff(url) == []


def test_migrations_build_exactly_the_metadata_on_postgresql(fresh_postgres_url: str) -> None:
    _migrate_empty(fresh_postgres_url)
    assert _schema_diff(fresh_postgres_url) == []


def test_a_fresh_store_is_created_at_the_head_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    Store(url).close()
    con = sqlite3.connect(tmp_path / "fresh.db")
    assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
    assert _schema_diff(url) == []


def _release_project(project: Path) -> Path:
    """The test project with the release store, its guideline files and its eight queries."""
    db = project / ".evalharness" / "cache.db"
    shutil.copy(FIXTURE / "cache.db", db)
    shutil.copytree(FIXTURE / "guidelines", project / "guidelines", dirs_exist_ok=True)
    shutil.copy(FIXTURE / "queries.csv", project / "queries" / "release.csv")
    return db


def test_a_release_store_asks_for_an_upgrade_then_opens_with_every_judgment(project: Path) -> None:
    db = _release_project(project)
    con = sqlite3.connect(db)
    before = con.execute("SELECT cache_key, label, rationale, judge_id FROM judgments ORDER BY cache_key").fetchall()
    runs_before = con.execute("SELECT run_id, status, metrics FROM runs ORDER BY run_id").fetchall()
    con.close()
    assert len(before) == 69 and len(runs_before) == 2

    assert_user_error(run_cli(project, "runs"), "older than this evalharness", "evalharness store upgrade")
    first = run_cli(project, "store", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"upgraded from schema revision 0001 to {head_revision()}" in first.stdout
    again = run_cli(project, "store", "upgrade")
    assert again.returncode == 0 and "nothing to do" in again.stdout

    con = sqlite3.connect(db)
    after = con.execute("SELECT cache_key, label, rationale, judge_id FROM judgments ORDER BY cache_key").fetchall()
    assert after == before
    assert con.execute("SELECT run_id, status, metrics FROM runs ORDER BY run_id").fetchall() == runs_before
    con.close()
    assert _schema_diff(f"sqlite:///{db}") == []

    listed = run_cli(project, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(r["run_id"] for r in json.loads(listed.stdout)) == [r[0] for r in runs_before]
    store = Store(f"sqlite:///{db}")  # every judgment is served again, with its label, rationale and judge
    try:
        cached = store.cached_judgments([k for k, *_ in before])
        assert sorted((k, j.label, j.rationale, j.judge_id) for k, j in cached.items()) == before
        queries = store.run_queries(runs_before[0][0])
        pool = pair_pool(store, before[0][3], stored_pairs(queries)).labels
        assert sum(len(v) for v in pool.values()) > 0
        for run_id, *_ in runs_before:  # 0008 filled each stored query's compact list from its hits
            stored = {q.id: q for q in store.run_queries(run_id)}
            lists = run_lists(store, run_id)
            assert sorted(q.id for q in lists) == sorted(stored) and sum(len(q.doc_ids) for q in lists) > 0
            for q in lists:
                hits = stored[q.id].hits
                assert q.doc_ids == [h.doc_id for h in hits] and q.content_hashes == stored[q.id].content_hashes
                assert q.ranks == [h.rank for h in hits] and q.scores == [h.score for h in hits]
                assert q.image_urls == [h.image_url for h in hits]
            decoded = run_hits(store, run_id, lists)
            assert {qid: [h.to_json() for h in hits] for qid, hits in decoded.items()} == \
                {qid: [h.to_json() for h in q.hits] for qid, q in stored.items()}
    finally:
        store.close()


def test_a_store_newer_than_the_code_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    Store(url).close()
    con = sqlite3.connect(tmp_path / "newer.db")
    con.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
    con.commit()
    con.close()
    with pytest.raises(EvalHarnessError, match="newer than this evalharness knows .*; upgrade evalharness"):
        Store(url)
    with pytest.raises(EvalHarnessError, match="newer than this evalharness knows"):
        Store(url, upgrade=True)


def test_upgrade_of_a_postgresql_release_store_is_idempotent(fresh_postgres_url: str) -> None:
    """A store made by the release's create_all (no version table) on PostgreSQL migrates in place."""
    engine = create_engine(fresh_postgres_url)
    with engine.begin() as conn:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO judgments VALUES ('k1', 'offline:x', 'lamp', 'd1', 'c', 'g', 'relevant', 'why', 0, 0, 0, 0, 'now')"))
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    with pytest.raises(EvalHarnessError, match="store upgrade"):
        Store(fresh_postgres_url)
    assert Store(fresh_postgres_url, upgrade=True).schema_change == ("0001", head_revision())
    assert Store(fresh_postgres_url, upgrade=True).schema_change == (head_revision(), head_revision())
    store = Store(fresh_postgres_url)
    assert store.count_judgments() == 1 and "k1" in store.cached_judgments(["k1"])
    store.close()
    assert _schema_diff(fresh_postgres_url) == []
