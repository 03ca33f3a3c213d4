"""One pair, one paid call across runners: claims in the shared store; a budget that ends within its cap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from llmserver import LLMServer
from sqlalchemy import create_engine, func, select

from evalharness.store import claims
from evalharness.store.tables import judgments_t

KEY = "sk-test-claims-91b2"


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY, latency=0.3)
    yield server
    server.close()


def _configure(project: Path, server: LLMServer, store_url: str, queries: int = 12) -> None:
    cfg = project / "evalharness.toml"
    text = cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_LLM_KEY"')
    text = text.replace('base_url = ""', f'base_url = "{server.url}/v1"\ntimeout_s = 5.0\nmax_retries = 6')
    text = text.replace('url = "sqlite:///.evalharness/cache.db"', f'url = "{store_url}"')
    cfg.write_text(text + '\n[prices."claims-model"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n')
    lines = (project / "queries" / "demo.csv").read_text().splitlines()
    (project / "queries" / "demo.csv").write_text("\n".join(lines[: queries + 1]) + "\n")


def _cli(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "evalharness", "-C", str(project), *args]


def _env() -> dict[str, str]:
    env = {**os.environ, "EH_LLM_KEY": KEY}
    env.pop("EVALHARNESS_DEBUG", None)
    return env


def _warm_project_files(project: Path) -> None:
    """Build the index and write the guideline files once (project files, not the store), on a throwaway store."""
    cfg = project / "evalharness.toml"
    text = cfg.read_text()
    cfg.write_text(text.replace('url = "sqlite:///.evalharness/cache.db"', 'url = "sqlite:///.evalharness/warmup.db"'))
    warm = subprocess.run(_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "offline"), capture_output=True, text=True,
                          env=_env(), timeout=300)
    assert warm.returncode == 0, warm.stderr
    cfg.write_text(text)


def _concurrent_runs(project: Path, n: int) -> list[dict]:
    """n runs of the same config at once. Starts are 0.3 s apart so that their judging overlaps while their
    first writes of queries and guidelines (check-then-insert upserts, made atomic under issue 9) do not."""
    procs = []
    for _ in range(n):
        procs.append(subprocess.Popen(_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "openai:claims-model", "--json"),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()))
        time.sleep(0.3)
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    return results


def _stored_judgments(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(judgments_t)).scalar_one())
    finally:
        engine.dispose()


def _assert_paid_once(results: list[dict], server: LLMServer, url: str) -> None:
    judged = _stored_judgments(url)
    hits = results[0]["counts"]["hits"]
    assert judged > 0 and all(r["counts"]["hits"] == hits for r in results)
    assert server.total_requests == judged, "a pair was paid for twice"
    assert sum(r["counts"]["judged_new"] for r in results) == judged
    for r in results:
        assert r["counts"]["judged_new"] + r["counts"]["judged_cached"] == hits and r["counts"]["failed"] == 0


def test_four_runners_on_a_fresh_postgresql_store_pay_once_per_pair(project: Path, llm: LLMServer, fresh_postgres_url: str) -> None:
    _warm_project_files(project)
    _configure(project, llm, fresh_postgres_url)
    _assert_paid_once(_concurrent_runs(project, 4), llm, fresh_postgres_url)


def test_two_runners_on_a_fresh_sqlite_store_pay_once_per_pair(project: Path, llm: LLMServer) -> None:
    url = f"sqlite:///{project / '.evalharness' / 'shared.db'}"
    _warm_project_files(project)
    _configure(project, llm, url)
    _assert_paid_once(_concurrent_runs(project, 2), llm, url)


def test_a_dead_runners_claims_expire_and_are_taken_over(tmp_path: Path) -> None:
    from evalharness.store import Store

    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    keys = [f"k{i}" for i in range(5)]
    assert claims.take(store.engine, keys, "dead", ttl=0.2) == set(keys)
    assert claims.take(store.engine, keys, "alive") == set()  # live claims of another runner are left alone
    time.sleep(0.3)
    assert claims.take(store.engine, keys, "alive") == set(keys)  # expired: taken over
    claims.release_all(store.engine, "alive")
    assert claims.take(store.engine, keys[:2], "third") == set(keys[:2])
    store.close()


def test_max_cost_run_ends_within_the_cap(project: Path, llm: LLMServer) -> None:
    _configure(project, llm, "sqlite:///.evalharness/cache.db")
    cap = 0.0025
    result = subprocess.run(_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "openai:claims-model", "--json",
                                 "--max-cost", str(cap)), capture_output=True, text=True, env=_env(), timeout=300)
    data = json.loads(result.stdout)
    counts = data["counts"]
    assert counts["skipped_budget"] > 0 and counts["judged_new"] > 0, counts
    assert data["cost_usd"] <= cap
    assert llm.total_requests == counts["judged_new"]
