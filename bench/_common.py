"""Helpers shared by the benchmarks: machine facts and writing results to bench/results/."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """CPUs, Python, platform and the load averages (1, 5, 15 min) when the figures were written."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Print the figures and write them as JSON to bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(), **data}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return path


# -- measuring a child process from a slim parent --------------------------------------------------------------------
# A child's ru_maxrss (wait4) includes the memory it shares with the parent until exec, so a parent that built a large
# project in-process would lend the child its own peak: the benchmarks that report a child's RSS keep the parent
# small (project builds run in a child of their own) and record the parent's RSS beside the figure.

REPO = Path(__file__).resolve().parents[1]
EVALHARNESS = [sys.executable, "-m", "evalharness"]


def own_rss_mb() -> float:
    """This (parent) process's peak RSS in MB: a child measured by wait4 reports at least this much."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_child(args: list[str], env: dict[str, str] | None = None, check: bool = True, timeout: float = 1800) -> dict[str, Any]:
    """Run a command in its own process: wall seconds, its CPU (user + sys, from wait4), its peak RSS in MB, exit code,
    stdout and stderr. `check`: a non-zero exit stops the benchmark with the child's last lines."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0, started = time.perf_counter(), time.time()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall, ended = time.perf_counter() - t0, time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:6])} ... exited {proc.returncode}: {stderr.strip()[-1500:]}")
    return {"wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "user_s": round(usage.ru_utime, 3),
            "sys_s": round(usage.ru_stime, 3), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "returncode": proc.returncode,
            "started_at": started, "ended_at": ended, "stdout": stdout, "stderr": stderr}


def figures(child: dict[str, Any]) -> dict[str, Any]:
    """A child's measured figures without its output."""
    return {k: v for k, v in child.items() if k not in ("stdout", "stderr", "started_at", "ended_at")}


def timeline(child: dict[str, Any], record: Path, latency: float) -> dict[str, float]:
    """Where a child's wall went, from the test server's record of each request's arrival time: seconds from the
    child's start to its first and its last request, and from the last answer (last request + latency) to its exit."""
    times = sorted(json.loads(line)["t"] for line in record.open(encoding="utf-8") if line.strip())
    if not times:
        return {}
    return {"first_request_s": round(times[0] - child["started_at"], 3), "last_request_s": round(times[-1] - child["started_at"], 3),
            "after_last_answer_s": round(child["ended_at"] - times[-1] - latency, 3)}


def start_llm_server(key: str, latency: float = 0.0, *extra: str) -> tuple[subprocess.Popen, str]:
    """tests/llmserver.py in its own process (its CPU is not the measured process's); `extra` are more of its options."""
    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "llmserver.py"), "--api-key", key, "--latency", str(latency),
                             *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())["url"]  # type: ignore[union-attr]


def stop_llm_server(proc: subprocess.Popen) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait(timeout=30)


def server_options() -> str:
    """tests/llmserver.py's --help text (to pass options only a newer server knows)."""
    return subprocess.run([sys.executable, str(REPO / "tests" / "llmserver.py"), "--help"], capture_output=True, text=True).stdout


def server_call(url: str, path: str, body: dict | None = None) -> dict:
    """GET (no body) or POST JSON to the test server's control routes (/_stats, /_config)."""
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())


def server_requests(url: str) -> int:
    """Judging requests the test server counted since its last /_config."""
    return sum(server_call(url, "/_stats")["requests"].values())
