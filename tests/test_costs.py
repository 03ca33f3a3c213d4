"""Nothing paid for nothing, resume waits for nothing: guideline hashes, call counts, vote dry-run prices, claims
of a killed runner and of failed pairs — against the local LLM server, which counts every request."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import run_cli
from llmserver import Faults, LLMServer
from test_llm_judges import ENV, KEY, configure
from test_run_status import _count_judgments, _db, _start, _wait_for_judgments

from evalharness.store import Store, claims


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _run(project: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    result = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--json", *args, env=ENV if env is None else env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_two_regenerates_in_a_row_then_run_send_nothing(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=6)
    first = _run(project, "--judge", "openai:m")
    assert first["counts"]["judged_new"] == first["counts"]["hits"] > 0
    before = {p.name: p.read_bytes() for p in (project / "guidelines").glob("*.md")}
    llm.configure()
    for _ in range(2):
        time.sleep(1.1)  # `created:` has a resolution of one second: each rewrite changes it
        result = run_cli(project, "guidelines", "regenerate")
        assert result.returncode == 0, result.stderr
    after = {p.name: p.read_bytes() for p in (project / "guidelines").glob("*.md")}
    assert after.keys() == before.keys() and all(after[n] != before[n] for n in before)  # the files were rewritten
    again = _run(project, "--judge", "openai:m")
    assert llm.total_requests == 0 and llm.state.lookups == 0
    assert again["counts"]["judged_cached"] == again["counts"]["hits"] and again["counts"]["judged_new"] == 0


def test_an_edited_guideline_rejudges_only_its_query(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=6)
    first = _run(project, "--judge", "openai:m")
    path = sorted((project / "guidelines").glob("*.md"))[0]
    path.write_text(path.read_text().rstrip() + "\n- Extra: a sentence a person added.\n")
    llm.configure()
    again = _run(project, "--judge", "openai:m")
    per_query = first["counts"]["hits"] / first["counts"]["queries"]
    assert 0 < again["counts"]["judged_new"] == llm.total_requests <= per_query * 2


def test_the_summary_counts_calls_by_kind(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=6)
    llm.configure(faults=Faults(sequence=["500", "ok", "malformed", "ok", "429", "ok"], retry_after="0"))
    data = _run(project, "--judge", "openai:m")
    c = data["counts"]
    assert c["calls_preflight"] == 1 == llm.state.lookups  # the openai preflight is one models lookup
    assert c["calls_first"] + c["calls_repair"] + c["calls_retry"] == llm.total_requests
    assert c["calls_repair"] == 1 and c["calls_retry"] == 2 and c["calls_first"] == c["hits"]
    text = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "openai:other", env=ENV)
    assert text.returncode == 0, text.stderr
    assert "judge calls: 1 preflight, " in text.stdout and " first attempts, " in text.stdout


def test_a_run_that_sends_nothing_needs_no_key(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=4)
    _run(project, "--judge", "openai:m")
    llm.configure()
    cached = _run(project, "--judge", "openai:m", env={"EH_LLM_KEY": ""})  # every pair cached: no key asked for
    assert cached["counts"]["judged_cached"] == cached["counts"]["hits"] and llm.total_requests == 0
    ids = [r["run_id"] for r in json.loads(run_cli(project, "runs", "--json").stdout)]
    compared = run_cli(project, "compare", ids[0], ids[1], env={"EH_LLM_KEY": ""})
    assert compared.returncode == 0, compared.stderr
    assert llm.total_requests == 0
    missing = run_cli(project, "run", "-e", "v1", "--top-k", "5", "--judge", "openai:m", env={"EH_LLM_KEY": ""})
    assert missing.returncode == 2 and "EH_LLM_KEY" in missing.stderr  # a pair to send: now the key is asked for


def test_vote_dry_run_prices_each_member_over_its_own_uncached_pairs(project: Path, llm: LLMServer) -> None:
    from evalharness.llm.prices import BUILTIN_PRICES

    configure(project, llm, "openai", queries=5)
    solo = json.loads(run_cli(project, "run", "-e", "v2", "--top-k", "5", "--dry-run", "--json", "--judge", "openai:gpt-4o-mini",
                              env=ENV).stdout)[0]
    with_offline = json.loads(run_cli(project, "run", "-e", "v2", "--top-k", "5", "--dry-run", "--json", "--judge",
                                      "vote(openai:gpt-4o-mini, offline)", env=ENV).stdout)[0]
    assert with_offline["calls"] == solo["calls"] == solo["hits"] > 0  # the free member is no call and no cost
    assert with_offline["cost_usd"] == pytest.approx(solo["cost_usd"])
    _run(project, "--judge", "openai:gpt-4o-mini")  # the openai member is now cached for every pair
    pair = json.loads(run_cli(project, "run", "-e", "v2", "--top-k", "5", "--dry-run", "--json", "--judge",
                              "vote(openai:gpt-4o-mini, anthropic:claude-haiku-4-5)", env=ENV).stdout)[0]
    p = BUILTIN_PRICES["claude-haiku-4-5"]
    assert pair["calls"] == solo["hits"]  # only the anthropic member's calls
    assert pair["cost_usd"] == pytest.approx((pair["input_tokens"] * p.input + pair["output_tokens"] * p.output) / 1e6)


def test_a_killed_runs_claims_are_released_at_once_by_the_rerun(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=20)
    llm.configure(latency=0.3)
    proc = _start(project, "--top-k", "5", "--judge", "openai:slow", "--json")
    _wait_for_judgments(project, proc, 40)  # about half of the 100 pairs
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db = _db(project)
    held = db.execute("SELECT count(*), min(pid), min(host), min(run_id) FROM claims").fetchone()
    assert held[0] > 0 and held[1] == proc.pid and held[2] and held[3]  # claims name their owner's process and run
    # as if the claims were still valid for a day: only the owner's death can free them
    db.execute("UPDATE claims SET expires_at = expires_at + 86400")
    db.commit()
    judged = _count_judgments(project)
    llm.configure()
    rerun = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "openai:slow", "--json", env=ENV, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    counts = json.loads(rerun.stdout)["counts"]
    assert counts["judged_new"] == counts["hits"] - judged == llm.total_requests
    assert db.execute("SELECT count(*) FROM claims").fetchone()[0] == 0


def test_claims_of_a_dead_process_on_this_host_are_released_and_others_are_kept(tmp_path: Path) -> None:
    import subprocess
    import sys

    from evalharness.pipeline.runstate import process_gone

    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = claims.owner_process("run-a")
        dead = {**me, "pid": child.pid, "proc_start": None}
        assert claims.take(store.engine, ["a", "b"], "dead-owner", process=dead) == {"a", "b"}
        other_host = {**me, "host": "elsewhere.example", "pid": child.pid}
        assert claims.take(store.engine, ["c"], "remote-owner", process=other_host) == {"c"}
        assert claims.take(store.engine, ["d"], "live-owner", process=me) == {"d"}
        assert claims.release_dead(store.engine, process_gone, "me") == 0  # all alive
        child.kill()
        child.wait()
        assert claims.release_dead(store.engine, process_gone, "me") == 2
        assert claims.take(store.engine, ["a", "b", "c", "d"], "me") == {"a", "b"}  # another host's claim is kept
    finally:
        child.kill()
        store.close()


def test_a_failed_pair_stays_claimed_so_other_runners_do_not_pay_again(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    assert claims.take(store.engine, ["k1", "k2"], "first", process=claims.owner_process("run-1")) == {"k1", "k2"}
    claims.mark_failed(store.engine, "first", {"k1": "JudgeOutputError: no label"})
    assert claims.take(store.engine, ["k1", "k2"], "second") == set()
    assert claims.failed_elsewhere(store.engine, ["k1", "k2"], "second") == {
        "k1": "failed in another runner (run run-1): JudgeOutputError: no label"}
    claims.release_all(store.engine, "first")  # the failure mark outlives its owner a few seconds
    assert claims.failed_elsewhere(store.engine, ["k1", "k2"], "second").keys() == {"k1"}
    assert claims.take(store.engine, ["k2"], "second") == {"k2"}
    assert claims.take(store.engine, ["k1"], "third", ttl=0.1) == set()
    with store.engine.begin() as conn:  # once it expires a later run retries it
        conn.execute(claims.claims_t.update().values(expires_at=0.0))
    assert claims.take(store.engine, ["k1"], "third") == {"k1"}
    assert claims.failed_elsewhere(store.engine, ["k1"], "fourth") == {}
    store.close()


def test_two_concurrent_runners_pay_once_for_a_pair_that_fails(project: Path, llm: LLMServer) -> None:
    import os
    import subprocess
    import sys

    configure(project, llm, "openai", queries=6)
    warm = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "offline")  # index and guidelines written
    assert warm.returncode == 0, warm.stderr
    llm.configure(latency=0.2, faults=Faults(rate_malformed=1.0))  # every answer unusable: every pair fails
    cmd = [sys.executable, "-m", "evalharness", "-C", str(project), "run", "-e", "v2", "--top-k", "5", "--judge", "openai:m",
           "--json"]
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        time.sleep(0.3)
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 2 for p in procs), outs
    hits = json.loads(outs[0][0])["counts"]["hits"]
    assert hits > 0 and all(json.loads(o)["counts"]["failed"] == hits for o, _ in outs)
    assert llm.total_requests == 2 * hits  # each pair once: a first attempt and one repair, by one runner
    conn = sqlite3.connect(project / ".evalharness" / "cache.db")
    assert conn.execute("SELECT count(*) FROM judgments WHERE judge_id LIKE 'openai:m:%'").fetchone()[0] == 0


def test_judgments_stored_under_an_earlier_releases_guideline_hash_are_reused(project: Path, llm: LLMServer) -> None:
    """Earlier releases keyed judgments by the guideline file's sha256; a store from then re-judges nothing."""
    from evalharness.guidelines.files import guideline_path
    from evalharness.models import sha256_hex
    from evalharness.store.keys import judgment_cache_key

    configure(project, llm, "openai", queries=5)
    first = _run(project, "--judge", "openai:m")
    db = _db(project)
    rows = db.execute("SELECT cache_key, query, content_hash, judge_id FROM judgments").fetchall()
    for key, query, chash, judge_id in rows:  # the store as an earlier release wrote it
        file_hash = sha256_hex(guideline_path(project / "guidelines", query).read_bytes())
        db.execute("UPDATE judgments SET cache_key = ?, guideline_hash = ? WHERE cache_key = ?",
                   (judgment_cache_key(query, chash, file_hash, judge_id), file_hash, key))
    db.commit()
    llm.configure()
    dry = json.loads(run_cli(project, "run", "-e", "v2", "--top-k", "5", "--dry-run", "--json", "--judge", "openai:m",
                             env=ENV).stdout)[0]
    assert dry["calls"] == 0 and dry["cached"] == dry["hits"]
    again = _run(project, "--judge", "openai:m")
    assert llm.total_requests == 0 and again["counts"]["judged_cached"] == again["counts"]["hits"]
    assert again["metrics"] == first["metrics"]
    copied = db.execute("SELECT count(*), sum(cost_usd) FROM judgments WHERE details LIKE '%rekeyed_from%'").fetchone()
    assert copied == (len(rows), 0.0)
