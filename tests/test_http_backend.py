"""The HTTP backend against a small local JSON search API."""

import json
from pathlib import Path

import pytest
from conftest import assert_user_error, run_cli
from httpfixtures import start_search_api

CONFIG = """
backend = "http"
top_k = 5

[http]
url = "{base}/search?q={{{{ query | urlencode }}}}&n={{{{ k }}}}"
header_envs = {{ Authorization = "SEARCH_API_AUTH" }}
hits_path = "$.results[*]"

[fields]
doc_id = "product.sku"
title = "$.product.name"
brand = "product.brand.name"
color = "product.colour"
price = "product.price"
score = "score"

[attributes]
product_type = "product.type"
"""


@pytest.fixture
def api(demo_dir: Path):
    products = [json.loads(line) for line in (demo_dir / "catalog.jsonl").open()][:400]
    server, url = start_search_api(products, token="tok-123456")
    yield url
    server.shutdown()


def test_http_backend_runs_and_is_stable(project: Path, api: str) -> None:
    (project / "engines" / "api.toml").write_text(CONFIG.format(base=api))
    env = {"SEARCH_API_AUTH": "Bearer tok-123456"}
    first = run_cli(project, "run", "-e", "api", "--json", env=env)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["counts"]["hits"] > 50 and data["counts"]["failed"] == 0
    second = json.loads(run_cli(project, "run", "-e", "api", "--json", env=env).stdout)
    assert second["counts"]["judged_new"] == 0 and second["metrics"] == data["metrics"]
    from evalharness.project import Project
    from evalharness.store import Store

    store = Store(Project(project).store_url())
    runs = [store.run_queries(r) for r in (data["run_id"], second["run_id"])]
    assert [[h.doc_id for h in q.hits] for q in runs[0]] == [[h.doc_id for h in q.hits] for q in runs[1]]
    hit = next(h for q in runs[0] for h in q.hits)
    assert hit.doc_id.startswith("P") and hit.title and hit.brand and hit.attributes["product_type"]
    assert "tok-123456" not in first.stdout + first.stderr


def test_http_backend_errors(project: Path, api: str) -> None:
    (project / "engines" / "api.toml").write_text(CONFIG.format(base=api))
    assert_user_error(run_cli(project, "run", "-e", "api"), "SEARCH_API_AUTH")
    wrong = run_cli(project, "run", "-e", "api", env={"SEARCH_API_AUTH": "Bearer nope-999999"})
    assert_user_error(wrong, "rejected the credentials")
    assert "nope-999999" not in wrong.stderr
    fast_retries = 'hits_path = "$.results[*]"\nbackoff_s = 0.05'  # the same 3 retries, without 3.5 s of default backoff
    (project / "engines" / "down.toml").write_text(CONFIG.format(base="http://127.0.0.1:1").replace('hits_path = "$.results[*]"', fast_retries))
    assert_user_error(run_cli(project, "run", "-e", "down", env={"SEARCH_API_AUTH": "x" * 8}), "cannot reach the search API")
    (project / "engines" / "boom.toml").write_text(CONFIG.format(base=api).replace("/search?", "/boom?")
                                                   .replace('hits_path = "$.results[*]"', fast_retries))
    assert_user_error(run_cli(project, "run", "-e", "boom", env={"SEARCH_API_AUTH": "Bearer tok-123456"}), "answered 500")
    (project / "engines" / "badpath.toml").write_text(CONFIG.format(base=api).replace('hits_path = "$.results[*]"', 'hits_path = "$.[[["'))
    assert_user_error(run_cli(project, "run", "-e", "badpath", env={"SEARCH_API_AUTH": "Bearer tok-123456"}), "not a valid JSONPath")
    (project / "engines" / "nan.toml").write_text(CONFIG.format(base=api).replace("/search?", "/nan?"))
    assert_user_error(run_cli(project, "run", "-e", "nan", env={"SEARCH_API_AUTH": "Bearer tok-123456"}),
                      "the score nan, not a finite number", "[fields] score")


def test_transient_503s_and_timeouts_are_retried(project: Path, demo_dir: Path) -> None:
    products = [json.loads(line) for line in (demo_dir / "catalog.jsonl").open()][:400]
    server, url = start_search_api(products, token="tok-123456", script=["503", "hang", "ok"], hang_s=5.0)
    try:
        config = CONFIG.format(base=url).replace('hits_path = "$.results[*]"',
                                                 'hits_path = "$.results[*]"\ntimeout_s = 1.0\nbackoff_s = 0.05')
        (project / "engines" / "flaky.toml").write_text(config)
        (project / "queries" / "few.csv").write_text("id,query,count,segment\na,red sneakers,1,head\nb,blue jacket,1,tail\n")
        env = {"SEARCH_API_AUTH": "Bearer tok-123456"}
        result = run_cli(project, "run", "-e", "flaky", "-q", "queries/few.csv", "--json", env=env)
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["counts"]["hits"] > 0 and data["counts"]["failed"] == 0 and data["status"] == "finished"
        # each query met a 503, then a timeout, then got its answer (a slow machine may add a retry, never lose one)
        assert set(server.seen) == {"red sneakers", "blue jacket"} and min(server.seen.values()) >= 3
    finally:
        server.shutdown()


def test_a_search_api_that_keeps_failing_ends_with_one_line(project: Path, demo_dir: Path) -> None:
    products = [json.loads(line) for line in (demo_dir / "catalog.jsonl").open()][:50]
    server, url = start_search_api(products, token="tok-123456", script=["503"])
    try:
        config = CONFIG.format(base=url).replace('hits_path = "$.results[*]"', 'hits_path = "$.results[*]"\nmax_retries = 2\nbackoff_s = 0.01')
        (project / "engines" / "down.toml").write_text(config)
        (project / "queries" / "one.csv").write_text("id,query,count,segment\na,red sneakers,1,head\n")
        result = run_cli(project, "run", "-e", "down", "-q", "queries/one.csv", env={"SEARCH_API_AUTH": "Bearer tok-123456"})
        assert_user_error(result, "answered 503", "after 2 retries")
        assert server.seen["red sneakers"] == 3
    finally:
        server.shutdown()
