"""Benchmark: the second `make demo` (everything cached), as six processes and as `evalharness demo`.

Copies the repository's project (evalharness.toml, engines/, queries/, guidelines/) into a temporary folder that
shares the demo catalog, runs `evalharness demo` once to fill the cache, then times each of the six commands in its
own process and the whole loop in one (`evalharness demo`): wall clock and CPU (user + sys of the child), with the
load average before and after. Usage: python bench/demo_time.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EVALHARNESS = [sys.executable, "-m", "evalharness"]


def timed(project: Path, *args: str, ok: tuple[int, ...] = (0,)) -> dict[str, float]:
    """Run one command in its own process: wall seconds and the child's CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([*EVALHARNESS, "-C", str(project), *args], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def make_project(root: Path) -> Path:
    from evalharness.sample import ensure_demo_catalog

    for name in ("engines", "queries", "guidelines"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "evalharness.toml", root / "evalharness.toml")
    demo = ensure_demo_catalog(REPO / ".evalharness").root  # the repository's (generated on first use)
    (root / ".evalharness").mkdir()
    (root / ".evalharness" / "demo").symlink_to(demo, target_is_directory=True)
    return root


def main() -> None:
    from evalharness.cli.demo import STEPS

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1, help="How many times to time each way (the best is kept too).")
    args = ap.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "demo")
        timed(project, "demo")  # the first demo: judges and scores everything once
        separate, together = [], []
        for _ in range(args.repeat):
            steps = [timed(project, *step, ok=(0, 1) if step[0] == "gate" else (0,)) for step in STEPS]
            separate.append({"steps": {" ".join(step): t for step, t in zip(STEPS, steps)},
                             "wall_s": round(sum(t["wall_s"] for t in steps), 3),
                             "cpu_s": round(sum(t["cpu_s"] for t in steps), 3)})
            together.append(timed(project, "demo"))
    write_result("demo_time", {
        "queries": sum(1 for _ in (REPO / "queries" / "demo.csv").open()) - 1,
        "six_processes": separate, "evalharness_demo": together,
        "best": {"six_processes_wall_s": min(r["wall_s"] for r in separate),
                 "six_processes_cpu_s": min(r["cpu_s"] for r in separate),
                 "evalharness_demo_wall_s": min(r["wall_s"] for r in together),
                 "evalharness_demo_cpu_s": min(r["cpu_s"] for r in together)},
        "loadavg_before": load_before, "target_s": 4.0,
    })


if __name__ == "__main__":
    main()
