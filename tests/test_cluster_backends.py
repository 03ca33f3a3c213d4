"""OpenSearch and Elasticsearch backends against osmem-server (a real in-memory engine) on loopback."""

import base64
import csv
import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, assert_user_error, cluster_engine, needs_shared_data, run_cli
from httpfixtures import start_proxy

from evalharness.backends.cluster import make_cluster_backend, render_query
from evalharness.project import Project
from evalharness.store import Store


def _stored_lists(project: Path, run_id: str) -> dict[str, list[str]]:
    store = Store(Project(project).store_url())
    try:
        return {q.text: [h.doc_id for h in q.hits] for q in store.run_queries(run_id)}
    finally:
        store.close()


@pytest.mark.parametrize("flavour", ["opensearch", "elasticsearch"])
def test_index_run_and_lists_equal_engine_search(project: Path, osmem_server, es_proxy: str, flavour: str) -> None:
    host = osmem_server.url if flavour == "opensearch" else es_proxy
    name = f"{flavour[:2]}-test"
    cluster_engine(project, name, "os-v2" if flavour == "opensearch" else "es-v2", host, f"demo-{flavour}")
    indexed = run_cli(project, "index", "--engine-config", name)
    assert indexed.returncode == 0, indexed.stderr
    assert "indexed 2400 products" in indexed.stdout
    # an existing index is never deleted silently
    assert_user_error(run_cli(project, "index", "--engine-config", name), "already exists", "--recreate")
    assert run_cli(project, "index", "--engine-config", name, "--recreate").returncode == 0
    first = run_cli(project, "run", "-e", name, "--json")
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["counts"]["queries"] == 60 and data["counts"]["hits"] > 400 and data["counts"]["failed"] == 0
    second = json.loads(run_cli(project, "run", "-e", name, "--json").stdout)
    assert second["counts"]["judged_new"] == 0
    lists = _stored_lists(project, data["run_id"])
    assert lists == _stored_lists(project, second["run_id"])  # unchanged index -> identical lists
    # each stored list equals what the engine's own _search returns for that query and config
    engine = Project(project).engine(name)
    backend = make_cluster_backend(engine)
    try:
        for text, ids in list(lists.items())[:25]:
            resp = backend.client.search(index=engine.config.index, body=render_query(engine.config, text, 10))
            assert [h["_id"] for h in resp["hits"]["hits"]] == ids, text
    finally:
        backend.close()


def test_cluster_error_messages(project: Path, osmem_server) -> None:
    cluster_engine(project, "down", "os-v2", "http://127.0.0.1:1", "x", "")
    assert_user_error(run_cli(project, "run", "-e", "down"), "cannot reach opensearch at http://127.0.0.1:1")
    cluster_engine(project, "noidx", "os-v2", osmem_server.url, "no-such-index")
    assert_user_error(run_cli(project, "run", "-e", "noidx"), "index 'no-such-index' not found", "evalharness index")
    cluster_engine(project, "tmpl", "os-v2", osmem_server.url, "x")
    path = project / "engines" / "tmpl.toml"
    path.write_text(path.read_text().replace("params = { title_boost = 2 }", "params = {}"))
    assert_user_error(run_cli(project, "run", "-e", "tmpl"), "template does not render", "title_boost")
    path.write_text(path.read_text().replace("{{ query | tojson }}", "{{ query }}"))
    assert_user_error(run_cli(project, "run", "-e", "tmpl"), "does not render")


@pytest.mark.parametrize("flavour", ["opensearch", "elasticsearch"])
def test_wrong_credentials(project: Path, osmem_server, flavour: str) -> None:
    good = "Basic " + base64.b64encode(b"evaluser:right").decode()
    server, url = start_proxy(osmem_server.url, rewrite_es=flavour == "elasticsearch", require_auth=good)
    try:
        extra = '\n'
        cluster_engine(project, "auth", "os-v2" if flavour == "opensearch" else "es-v2", url, f"demo-auth-{flavour}")
        path = project / "engines" / "auth.toml"
        path.write_text(path.read_text().replace("verify_certs = true", 'verify_certs = true\nusername_env = "EH_USER"\npassword_env = "EH_PASS"')
                        + extra)
        env = {"EH_USER": "evaluser", "EH_PASS": "wrong-secret-123"}
        result = run_cli(project, "run", "-e", "auth", env=env)
        assert_user_error(result, "rejected the credentials", "password_env")
        assert "wrong-secret-123" not in result.stderr + result.stdout
        assert_user_error(run_cli(project, "run", "-e", "auth"), "environment variable EH_USER")
        ok = run_cli(project, "index", "-e", "auth", env={"EH_USER": "evaluser", "EH_PASS": "right"})
        assert ok.returncode == 0, ok.stderr
    finally:
        server.shutdown()


@needs_shared_data()
def test_esci_products_searched_with_esci_queries(project: Path, osmem_server) -> None:
    cluster_engine(project, "esci", "os-v2", osmem_server.url, "esci")
    catalog = SHARED_DATA / "esci" / "products.jsonl"
    result = run_cli(project, "index", "-e", "esci", "--catalog", str(catalog))
    assert result.returncode == 0, result.stderr
    assert "indexed 6764 products" in result.stdout
    queries = [json.loads(line) for line in (SHARED_DATA / "esci" / "queries.jsonl").open()]
    with (project / "queries" / "esci.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "query", "count", "segment"])
        for q in queries:
            w.writerow([q["id"], q["text"], 1, ""])
    labels: dict[str, dict[str, str]] = {}
    for row in csv.DictReader((SHARED_DATA / "esci" / "labels.csv").open()):
        labels.setdefault(row["query_id"], {})[row["product_id"]] = row["label"]
    engine = Project(project).engine("esci")
    backend = make_cluster_backend(engine)
    try:
        results = backend.search_many([q["text"] for q in queries], 10)
    finally:
        backend.close()
    with_hits = sum(1 for r in results if r)
    assert with_hits >= 0.95 * len(queries)
    # the human labels say most top hits are exact or substitute matches (BM25 on ESCI text is a fair baseline)
    top = [labels.get(q["id"], {}).get(r[0].doc_id) for q, r in zip(queries, results) if r]
    judged_top = [x for x in top if x]
    assert len(judged_top) > 0.7 * len(top)
    assert sum(1 for x in judged_top if x in ("E", "S")) > 0.6 * len(judged_top)
