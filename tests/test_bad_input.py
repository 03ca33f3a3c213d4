"""Every bad input named: one line that says what to fix, exit code 2, and the store exactly as it was."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, assert_user_error, make_project, run_cli

STORE = Path(".evalharness") / "cache.db"


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    """A demo project with one offline run stored (copied by each test)."""
    root = make_project(tmp_path_factory.mktemp("bad") / "proj", demo_dir, n_queries=4)
    result = run_cli(root, "run", "-e", "v1", "--top-k", "3")
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def proj(judged: Path, tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(judged, root, symlinks=True)
    return root


def row_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def _set_store(root: Path, url: str) -> None:
    cfg = root / "evalharness.toml"
    cfg.write_text(re.sub(r'(?m)^url = ".*"$', f'url = "{url}"', cfg.read_text(), count=1))


def _without_postgres_driver(root: Path, *args: str) -> subprocess.CompletedProcess:
    code = ("import runpy, sys; sys.modules['psycopg'] = sys.modules['psycopg2'] = None; "
            "sys.argv[0] = 'evalharness'; runpy.run_module('evalharness', run_name='__main__')")
    env = {k: v for k, v in os.environ.items() if k != "EVALHARNESS_DEBUG"}
    return subprocess.run([sys.executable, "-c", code, "-C", str(root), *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=REPO)


def test_a_postgresql_url_without_the_driver_says_how_to_install_it(proj: Path) -> None:
    before = row_counts(proj / STORE)
    _set_store(proj, "postgresql://me@127.0.0.1:1/evalharness")
    assert_user_error(_without_postgres_driver(proj, "runs"), "install the PostgreSQL driver: pip install 'evalharness[postgres]'")
    assert row_counts(proj / STORE) == before


def test_a_mysql_url_is_named(proj: Path) -> None:
    before = row_counts(proj / STORE)
    _set_store(proj, "mysql://me:secret@db/evalharness")
    result = run_cli(proj, "run", "-e", "v1", "--top-k", "3")
    assert_user_error(result, "mysql", "SQLite or PostgreSQL", "sqlite:///.evalharness/cache.db")
    assert "secret" not in result.stderr
    assert row_counts(proj / STORE) == before


def test_a_damaged_store_is_named(proj: Path) -> None:
    db = proj / STORE
    before = row_counts(db)
    garbage = proj / ".evalharness" / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    _set_store(proj, "sqlite:///.evalharness/garbage.db")
    assert_user_error(run_cli(proj, "runs"), "garbage.db", "damaged or is not an evalharness store")
    assert garbage.stat().st_size == 8192
    # a real store whose pages were overwritten after its first page: read fine at open, malformed on the first query
    damaged = proj / ".evalharness" / "damaged.db"
    shutil.copy(db, damaged)
    with damaged.open("r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xff" * (damaged.stat().st_size - 4096))
    _set_store(proj, "sqlite:///.evalharness/damaged.db")
    result = run_cli(proj, "runs")
    assert_user_error(result, "damaged.db")
    assert row_counts(db) == before


def test_a_field_of_10_mb_is_named(proj: Path) -> None:
    before = row_counts(proj / STORE)
    big = proj / "queries" / "big.csv"
    big.write_text('id,query\nq1,"' + "x" * (10 << 20) + '"\n', encoding="utf-8")
    assert_user_error(run_cli(proj, "run", "-e", "v1", "--queries", str(big)), "big.csv", "not a readable CSV", "quote")
    labels = proj / "labels.csv"
    labels.write_text('query,doc_id,label\nshoes,"' + "d" * (10 << 20) + '",relevant\n', encoding="utf-8")
    assert_user_error(run_cli(proj, "labels", "import", str(labels), "--as", "gold"), "labels.csv", "not a readable CSV")
    assert row_counts(proj / STORE) == before


def test_init_onto_an_existing_file_is_named(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine\n")
    assert_user_error(run_cli(tmp_path, "init", "notes.txt"), "notes.txt is a file, not a folder")
    assert target.read_text() == "mine\n"
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "engines").mkdir()
    (folder / "evalharness.toml").write_text("# mine\n")
    assert_user_error(run_cli(tmp_path, "init", "half"), "evalharness.toml already exists", "--force")
    assert sorted(p.name for p in folder.iterdir()) == ["engines", "evalharness.toml"]  # nothing written before the refusal


@pytest.mark.parametrize(("row", "fragment"), [("q9,   ,1", "the query is blank"), ("q9,red shoes,-3", "count -3 is negative"),
                                               ("q9,red shoes,1e999", "is not a number")])
def test_a_bad_query_row_is_named(proj: Path, row: str, fragment: str) -> None:
    before = row_counts(proj / STORE)
    path = proj / "queries" / "bad.csv"
    path.write_text(f"id,query,count\nq1,blue mug,2\n{row}\n", encoding="utf-8")
    assert_user_error(run_cli(proj, "run", "-e", "v1", "--queries", str(path)), "bad.csv:3", fragment)
    assert row_counts(proj / STORE) == before


def test_duplicate_catalog_ids_are_named(proj: Path) -> None:
    before = row_counts(proj / STORE)
    catalog = proj / "dup.jsonl"
    catalog.write_text("\n".join(json.dumps({"id": i, "title": t}) for i, t in [("a", "red mug"), ("b", "blue mug"),
                                                                                   ("a", "green mug")]) + "\n")
    (proj / "engines" / "dup.toml").write_text('backend = "tantivy"\n[tantivy]\ncatalog = "dup.jsonl"\nfields = ["title"]\n')
    assert_user_error(run_cli(proj, "run", "-e", "dup", "--top-k", "3"), "dup.jsonl:3", "'a' appears a second time")
    assert row_counts(proj / STORE) == before


def test_an_unknown_label_source_and_run_are_named(proj: Path) -> None:
    before = row_counts(proj / STORE)
    assert_user_error(run_cli(proj, "run", "-e", "v1", "--top-k", "3", "--labels", "human:nosuch"), "human:nosuch",
                      "holds no labels")
    assert_user_error(run_cli(proj, "batches", "collect", "--run", "nosuch"), "--run nosuch", "no such run")
    assert row_counts(proj / STORE) == before


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MB tmpfs (needs root, as CI has): a disk that can really fill up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()[:80]}): the full-disk test needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_full_disk_is_named(proj: Path, small_disk: Path) -> None:
    _set_store(proj, f"sqlite:///{small_disk / 'cache.db'}")
    first = run_cli(proj, "run", "-e", "v1", "--top-k", "3")
    assert first.returncode == 0, first.stderr
    before = row_counts(small_disk / "cache.db")
    with (small_disk / "filler").open("wb") as fh:  # fill every byte that is left
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    result = run_cli(proj, "run", "-e", "v2", "--top-k", "10")
    assert_user_error(result, "cache.db", "is full", "free some space")
    (small_disk / "filler").unlink()
    assert row_counts(small_disk / "cache.db") == before
