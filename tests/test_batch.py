"""Provider batch judging (`run --batch`, `batches status|collect`) through the real openai, google-genai and
anthropic SDKs against the local server's batch endpoints: limits, kills, idempotent ingest, resends, batch price."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_user_error, run_cli
from llmserver import LLMServer
from llmserver_batch import BatchFaults
from sqlalchemy import create_engine, func, select, update

from evalharness.store.batches import batch_pairs_t, batches_t
from evalharness.store.tables import judgments_t, runs_t

KEY = "sk-test-batch-5e1d"
ENV = {"EH_LLM_KEY": KEY}
MODEL = {"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash", "anthropic": "claude-haiku-4-5"}


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def configure(project: Path, server: LLMServer, provider: str, queries: int = 12, extra: str = "") -> None:
    cfg = project / "evalharness.toml"
    base = f"{server.url}/v1" if provider == "openai" else server.url
    text = cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_LLM_KEY"')
    text = text.replace('base_url = ""', f'base_url = "{base}"\ntimeout_s = 10.0\nbatch_poll_s = 0.3\n{extra}')
    cfg.write_text(text)
    lines = (project / "queries" / "demo.csv").read_text().splitlines()
    (project / "queries" / "demo.csv").write_text("\n".join(lines[: queries + 1]) + "\n")


def store_engine(project: Path):
    return create_engine(f"sqlite:///{project / '.evalharness' / 'cache.db'}")


def run_batch(project: Path, provider: str, *args: str) -> dict:
    result = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--batch", "--judge", f"{provider}:{MODEL[provider]}",
                     "--json", *args, env=ENV)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def collect(project: Path, *args: str) -> dict:
    result = run_cli(project, "batches", "collect", "--json", *args, env=ENV)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def judgments(project: Path) -> list:
    with store_engine(project).connect() as conn:
        return list(conn.execute(select(judgments_t.c.cache_key, judgments_t.c.label, judgments_t.c.input_tokens,
                                        judgments_t.c.output_tokens, judgments_t.c.cost_usd, judgments_t.c.details)))


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_batch_run_survives_kills_resends_failures_and_costs_half(project: Path, llm: LLMServer, provider: str) -> None:
    configure(project, llm, provider, extra="batch_max_requests = 25")
    llm.configure_batches(BatchFaults(delay_s=1.5, line_errors=2, malformed=2, max_lines=25))
    submitted = run_batch(project, provider)
    assert submitted["status"] == "waiting" and llm.total_requests == 0  # nothing judged live
    hits = submitted["counts"]["hits"]
    assert submitted["counts"]["batch_sent"] == hits == 60 and submitted["counts"]["batches"] == 3  # 25 + 25 + 10
    assert llm.batch_stats()["batches"][provider] == 3

    status = run_cli(project, "batches", "status", "--json", env=ENV)
    rows = json.loads(status.stdout)
    assert len(rows) == 3 and all(r["state"] == "submitted" and r["requests"] <= 25 for r in rows)
    refused = run_cli(project, "compare", "v2", "v2", env=ENV)
    assert_user_error(refused, "waiting for provider batch results", "batches collect")
    assert_user_error(run_cli(project, "report", submitted["run_id"], env=ENV), "waiting for provider batch results")

    # A collector killed while it polls; the next one finishes the run.
    proc = subprocess.Popen([sys.executable, "-m", "evalharness", "-C", str(project), "batches", "collect", "--wait"],
                            env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    done = collect(project, "--wait", "--timeout", "60")
    assert [r["status"] for r in done["runs"]] in (["finished"], [])
    with store_engine(project).connect() as conn:
        run = conn.execute(select(runs_t).where(runs_t.c.run_id == submitted["run_id"])).one()
    assert run.status == "finished" and run.counts["judged_new"] == hits and run.counts["failed"] == 0

    stored = judgments(project)
    assert len(stored) == hits
    by_id = llm.batch_stats()["by_id"]
    assert set(by_id) == {j.cache_key for j in stored}
    # Per first batch, 2 lines errored (answered once when sent again) and 2 answers were malformed (answered
    # twice: the answer and its repair turn); every other pair was answered exactly once.
    assert llm.batch_stats()["errors"][provider] == 6
    assert sorted(by_id.values()).count(2) == 6 and max(by_id.values()) == 2
    assert llm.total_requests == 0
    assert all(j.details["batch"].startswith("ehb-") for j in stored)
    # Cost at the batch price: half of gpt-4o-mini's / gemini-2.5-flash's list price, tokens of every send counted.
    price = {"openai": (0.15, 0.60), "gemini": (0.30, 2.50)}[provider]
    expected = sum((j.input_tokens * price[0] + j.output_tokens * price[1]) / 2e6 for j in stored)
    assert run.cost_usd == pytest.approx(expected, rel=1e-6) and expected > 0

    # Results ingested twice are stored once: re-open every batch the provider made and collect again. (A batch
    # whose creation the killed collector interrupted was abandoned with no provider id: there is nothing to re-open.)
    with store_engine(project).begin() as conn:
        conn.execute(update(batches_t).where(batches_t.c.provider_id.is_not(None)).values(state="submitted"))
    again = collect(project)
    assert sum(c["already"] for c in again["ingested"].values()) >= hits and sum(c["judged"] for c in again["ingested"].values()) == 0
    assert len(judgments(project)) == hits and llm.batch_stats()["by_id"] == by_id

    created = llm.batch_stats()["batches"][provider]
    rerun = run_batch(project, provider)  # everything cached: finished at once, nothing sent
    assert rerun["status"] == "finished" and rerun["counts"]["judged_cached"] == hits and rerun["counts"]["batch_sent"] == 0
    assert llm.batch_stats()["batches"][provider] == created and rerun["metrics"]["nDCG@10"] == run.metrics["nDCG@10"]


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_submitter_killed_after_the_provider_created_the_batch_is_adopted_not_resent(project: Path, llm: LLMServer,
                                                                                       provider: str) -> None:
    configure(project, llm, provider)
    llm.configure_batches(BatchFaults(delay_s=0.5))
    submitted = run_batch(project, provider)
    assert submitted["status"] == "waiting"
    # What the store holds when the submitter dies between the provider's create and our record of it.
    engine = store_engine(project)
    with engine.begin() as conn:
        conn.execute(update(batches_t).values(state="creating", provider_id=None,
                                              submitter={"pid": 2**22 + 17, "host": os.uname().nodename, "start": "1"}))
        conn.execute(update(batch_pairs_t).values(state="queued", attempts=0))
    done = collect(project, "--wait", "--timeout", "60")
    assert done["recovered"] and done["runs"][0]["status"] == "finished"
    stats = llm.batch_stats()
    assert stats["batches"][provider] == 1 and set(stats["by_id"].values()) == {1}  # found by our id, never resent
    assert len(judgments(project)) == submitted["counts"]["hits"]


def test_a_batch_never_created_is_sent_again_by_collect(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "anthropic")
    llm.configure_batches(BatchFaults(delay_s=0.3))
    submitted = run_batch(project, "anthropic")
    engine = store_engine(project)
    with engine.begin() as conn:  # the submitter died before the provider created anything
        conn.execute(update(batches_t).values(state="creating", provider_id=None,
                                              submitter={"pid": 2**22 + 17, "host": os.uname().nodename, "start": "1"}))
        conn.execute(update(batch_pairs_t).values(state="queued", attempts=0))
    done = collect(project, "--wait", "--timeout", "60")
    assert done["recovered"] and done["resubmitted"] and done["runs"][0]["status"] == "finished"
    assert len(judgments(project)) == submitted["counts"]["hits"]


def test_anthropic_batch_with_expiry_resends_the_expired_requests(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "anthropic", queries=6)
    llm.configure_batches(BatchFaults(delay_s=0.3, expire_after=10))
    submitted = run_batch(project, "anthropic")
    hits = submitted["counts"]["hits"]
    done = collect(project, "--wait", "--timeout", "60")
    assert done["runs"][0]["status"] == "finished"
    assert len(judgments(project)) == hits and llm.batch_stats()["batches"]["anthropic"] >= 2


def test_pairs_that_keep_failing_are_listed_and_the_run_is_partial(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=4, extra="batch_max_attempts = 1")
    llm.configure_batches(BatchFaults(delay_s=0.2, line_errors=3))
    submitted = run_batch(project, "openai")
    done = collect(project, "--wait", "--timeout", "60")
    run = done["runs"][0]
    assert run["status"] == "partial" and run["failed"] == 3 and len(run["failures"]) == 3
    assert all("after 1 sends" in f["reason"] for f in run["failures"])
    with store_engine(project).connect() as conn:
        row = conn.execute(select(runs_t).where(runs_t.c.run_id == submitted["run_id"])).one()
        assert row.status == "partial" and row.counts["unjudged_hits"] == 3
        assert conn.execute(select(func.count()).select_from(judgments_t)).scalar_one() == submitted["counts"]["hits"] - 3


def test_a_batch_the_provider_fails_is_reported_and_sent_again_after_the_limit_is_fixed(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=6)
    llm.configure_batches(BatchFaults(max_lines=10))  # the provider's limit is lower than evalharness believes
    submitted = run_batch(project, "openai")
    assert submitted["status"] == "waiting" and submitted["counts"]["batches"] == 1
    result = run_cli(project, "batches", "collect", env=ENV)
    assert result.returncode == 0, result.stderr
    assert "openai failed" in result.stderr and "too_many_requests" in result.stderr and "30 to send again" in result.stderr
    assert KEY not in result.stderr + result.stdout
    # With a limit that fits, the next collect sends the pairs again in batches of 10; nothing is paid twice.
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace("batch_poll_s = 0.3", "batch_poll_s = 0.3\nbatch_max_requests = 10"))
    done = collect(project, "--wait", "--timeout", "60")
    assert len(done["resubmitted"]) == 3 and done["runs"][0]["status"] == "finished"
    assert set(llm.batch_stats()["by_id"].values()) == {1} and len(judgments(project)) == 30


def test_dry_run_estimates_at_the_batch_price_and_bad_batch_judges_are_refused(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=4)
    live = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--dry-run", "--json", "--judge", "openai:gpt-4o-mini", env=ENV)
    batch = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--dry-run", "--batch", "--json", "--judge", "openai:gpt-4o-mini",
                    env=ENV)
    live_cost, batch_cost = json.loads(live.stdout)[0]["cost_usd"], json.loads(batch.stdout)[0]["cost_usd"]
    assert batch_cost == pytest.approx(live_cost / 2) and live_cost > 0
    offline = run_cli(project, "run", "-e", "v2", "--batch", "--judge", "offline", env=ENV)
    assert_user_error(offline, "--batch needs one LLM judge")
    nowait = run_cli(project, "run", "-e", "v2", "--wait", "--judge", "openai:gpt-4o-mini", env=ENV)
    assert_user_error(nowait, "--wait", "--batch")
    assert llm.total_requests == 0 and llm.batch_stats()["batches"].get("openai", 0) == 0


def test_max_cost_caps_what_a_batch_run_sends(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=12)
    llm.configure_batches(BatchFaults(delay_s=0.2))
    data = run_batch(project, "openai", "--max-cost", "0.0008", "--wait")
    counts = data["counts"]
    assert data["status"] == "partial" and 0 < counts["batch_sent"] < counts["hits"]
    assert counts["skipped_budget"] == counts["hits"] - counts["batch_sent"]
    assert data["cost_usd"] <= 0.0008


def test_a_run_killed_while_submitting_resumes_from_the_store_and_pays_each_pair_once(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=12, extra="batch_max_requests = 5")
    llm.configure_batches(BatchFaults(delay_s=0.2))
    cmd = [sys.executable, "-m", "evalharness", "-C", str(project), "run", "-e", "v2", "--top-k", "5", "--batch", "--judge",
           "openai:gpt-4o-mini"]
    proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = store_engine(project)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # killed as soon as its first batch is created
        try:
            with engine.connect() as conn:
                if conn.execute(select(func.count()).select_from(batches_t).where(batches_t.c.state == "submitted")).scalar_one():
                    break
        except Exception:  # noqa: BLE001 - the store may not exist yet
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    collect(project, "--wait", "--timeout", "60")  # ingests what was sent, resolves a batch left `creating`
    data = run_batch(project, "openai", "--wait")  # the rest is sent now; what was sent before is not sent again
    assert data["status"] == "finished" and data["counts"]["hits"] == 60
    assert len(judgments(project)) == 60 and set(llm.batch_stats()["by_id"].values()) == {1}
    with engine.connect() as conn:
        statuses = set(conn.execute(select(runs_t.c.status)).scalars())
    assert statuses == {"finished", "interrupted"} or statuses == {"finished"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_batch_runs_send_each_pair_once(project: Path, llm: LLMServer, backend: str, request: pytest.FixtureRequest) -> None:
    configure(project, llm, "openai", queries=12, extra="batch_max_requests = 7")
    if backend == "postgresql":
        url = request.getfixturevalue("fresh_postgres_url")
        cfg = project / "evalharness.toml"
        cfg.write_text(cfg.read_text().replace('url = "sqlite:///.evalharness/cache.db"', f'url = "{url}"'))
    warm = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "offline", env=ENV)  # index and guideline files
    assert warm.returncode == 0, warm.stderr
    llm.configure_batches(BatchFaults(delay_s=0.3))
    cmd = [sys.executable, "-m", "evalharness", "-C", str(project), "run", "-e", "v2", "--top-k", "5", "--batch", "--wait",
           "--judge", "openai:gpt-4o-mini", "--json"]
    procs = [subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-800:] for _, e in outs]
    results = [json.loads(o) for o, _ in outs]
    assert all(r["status"] == "finished" and r["counts"]["hits"] == 60 for r in results)
    assert sum(r["counts"]["batch_sent"] for r in results) == 60  # each pair sent by exactly one of them
    stats = llm.batch_stats()
    assert len(stats["by_id"]) == 60 and set(stats["by_id"].values()) == {1} and llm.total_requests == 0
