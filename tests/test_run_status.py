"""A run's status is true: finished, partial, failed or interrupted — with real subprocesses and real signals."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli
from llmserver import Faults, LLMServer
from test_llm_judges import ENV, KEY, configure


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _runs(project: Path) -> list[dict]:
    result = run_cli(project, "runs", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _db(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / ".evalharness" / "cache.db")


def _count_judgments(project: Path) -> int:
    try:
        return _db(project).execute("SELECT count(*) FROM judgments").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


# Ctrl-C reaches the child as it would from a terminal, even when the test run itself was started in the
# background by a shell (which makes its children ignore SIGINT, and Python then installs no handler).
_WITH_CTRL_C = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "sys.argv[0] = 'evalharness'; runpy.run_module('evalharness', run_name='__main__')")


def _start(project: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WITH_CTRL_C, "-C", str(project), "run", "-e", "v2", *args],
                            env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_judgments(project: Path, proc: subprocess.Popen, n: int) -> None:
    while _count_judgments(project) < n:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)


def test_a_fully_failed_run_is_marked_failed(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "gemini", queries=3)
    llm.configure(faults=Faults(rate_malformed=1.0))
    result = run_cli(project, "run", "-e", "v2", "--top-k", "2", "--judge", "gemini:bad", "--json", env=ENV)
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert data["counts"]["judged_new"] == 0 and data["status"] == "failed"
    assert _runs(project)[0]["status"] == "failed"


def test_a_run_stopped_by_the_budget_is_partial_and_says_how_to_continue(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=20, extra='\n[prices."priced"]\ninput_per_mtok = 1000.0\noutput_per_mtok = 1000.0\n')
    # a cap that fits a few calls (each reserves its estimated cost, doubled for a repair turn) but not all 200
    result = run_cli(project, "run", "-e", "v2", "--judge", "openai:priced", "--max-cost", "5.0", env=ENV)
    assert result.returncode == 0, result.stderr
    [note] = [line for line in result.stderr.splitlines() if line.startswith("budget reached")]
    listed = _runs(project)[0]
    skipped = listed["counts"]["skipped_budget"]
    assert skipped > 0 and f"{skipped} hit(s) are unjudged" in note and "larger --max-cost" in note
    assert listed["status"] == "partial" and "partial" in note


def test_a_complete_run_is_finished(project: Path) -> None:
    assert run_cli(project, "run", "-e", "v1", "--top-k", "2").returncode == 0
    assert _runs(project)[0]["status"] == "finished"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_mark_the_run_interrupted_and_keep_calls_in_flight(project: Path, llm: LLMServer, sig: int) -> None:
    configure(project, llm, "openai", queries=40)
    llm.configure(latency=0.5)
    proc = _start(project, "--judge", "openai:slow", "--json")
    _wait_for_judgments(project, proc, 16)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("interrupted:") and "Traceback" not in err
    [row] = _runs(project)
    assert row["status"] == "interrupted"
    # the calls already sent when the signal came were awaited and stored: nothing paid for is lost
    assert _count_judgments(project) == llm.total_requests


def test_a_killed_run_is_marked_interrupted_by_the_next_command(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=40)
    llm.configure(latency=0.3)
    proc = _start(project, "--judge", "openai:slow", "--json")
    _wait_for_judgments(project, proc, 8)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _db(project).execute("SELECT status FROM runs").fetchall() == [("running",)]
    assert [r["status"] for r in _runs(project)] == ["interrupted"]
    llm.configure()
    again = run_cli(project, "run", "-e", "v1", "--top-k", "2")
    assert again.returncode == 0, again.stderr
    assert sorted(r["status"] for r in _runs(project)) == ["finished", "interrupted"]


def test_a_running_row_of_a_live_process_or_another_host_is_left_alone(tmp_path: Path) -> None:
    from evalharness.pipeline.runstate import process_gone, this_process
    from evalharness.store import Store

    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    procs = {"live": this_process(), "other-host": {**this_process(), "host": "elsewhere", "pid": dead.pid},
             "dead": {**this_process(), "pid": dead.pid}}
    for run_id, proc in procs.items():
        store.start_run({"run_id": run_id, "engine_config": "v1", "config_hash": "h", "config": {"process": proc},
                         "judge_id": "offline", "top_k": 1, "queries_source": "q.csv"})
    assert store.mark_stale_runs(process_gone) == ["dead"]
    assert {r.run_id: r.status for r in store.list_runs()} == {"live": "running", "other-host": "running", "dead": "interrupted"}
