"""Hostile input: text that is not UTF-8 and a store that cannot be written give one line naming the file and the fix."""

import json
from pathlib import Path

from conftest import assert_user_error, run_cli

LATIN1 = "caf\xe9 cr\xe8me".encode("latin-1")


def test_a_query_set_that_is_not_utf8_names_the_file_and_line(project: Path) -> None:
    (project / "queries" / "latin1.csv").write_bytes(b"id,query,count,segment\na,sneakers,1,head\nb," + LATIN1 + b",1,tail\n")
    assert_user_error(run_cli(project, "run", "-e", "v1", "-q", "queries/latin1.csv"), "latin1.csv:3", "not UTF-8", "iconv")


def test_a_catalog_that_is_not_utf8_names_the_file_and_line(project: Path) -> None:
    good = json.dumps({"id": "A1", "title": "Red Sneakers"}).encode()
    (project / "bad.jsonl").write_bytes(good + b"\n" + b'{"id": "A2", "title": "' + LATIN1 + b'"}\n')
    (project / "engines" / "bad.toml").write_text('backend = "tantivy"\n[tantivy]\ncatalog = "bad.jsonl"\nfields = ["title"]\n')
    assert_user_error(run_cli(project, "index", "-e", "bad"), "bad.jsonl:2", "not UTF-8")
    assert_user_error(run_cli(project, "run", "-e", "bad"), "bad.jsonl:2", "not UTF-8")


def test_a_ubi_log_and_an_engine_config_that_are_not_utf8(project: Path) -> None:
    doc = b'{"query_id": "1", "user_query": "' + LATIN1 + b'", "timestamp": "2024-12-01T00:00:00Z"}\n'
    (project / "ubi.ndjson").write_bytes(b'{"index": {}}\n' + doc)
    assert_user_error(run_cli(project, "queries", "pull", "--source", "ubi.ndjson", "--format", "ubi", "--out", "queries/u.csv"),
                      "ubi.ndjson:2", "not UTF-8")
    (project / "engines" / "latin.toml").write_bytes(b'description = "' + LATIN1 + b'"\n')
    assert_user_error(run_cli(project, "run", "-e", "latin"), "latin.toml", "not UTF-8")


def test_a_read_only_store_is_one_line(project: Path) -> None:
    assert run_cli(project, "run", "-e", "v1", "--top-k", "2").returncode == 0
    db = project / ".evalharness" / "cache.db"
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('url = "sqlite:///.evalharness/cache.db"', f'url = "sqlite:///file:{db}?mode=ro&uri=true"'))
    result = run_cli(project, "run", "-e", "v2", "--top-k", "2")
    assert_user_error(result, f"the store {db}", "read-only", "[store] url")
    assert run_cli(project, "runs").returncode == 0  # reading a read-only store still works


def test_a_read_only_postgresql_store_is_one_line(project: Path, postgres_url: str) -> None:
    cfg = project / "evalharness.toml"
    text = cfg.read_text()
    cfg.write_text(text.replace('url = "sqlite:///.evalharness/cache.db"', f'url = "{postgres_url}"'))
    assert run_cli(project, "run", "-e", "v1", "--top-k", "2").returncode == 0
    read_only = f"{postgres_url}?options=-c%20default_transaction_read_only%3Don"
    cfg.write_text(text.replace('url = "sqlite:///.evalharness/cache.db"', f'url = "{read_only}"'))
    assert_user_error(run_cli(project, "run", "-e", "v2", "--top-k", "2"), "read-only", "[store] url")
