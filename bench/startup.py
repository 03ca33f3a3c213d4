"""Benchmark: what a command costs before and beside its work — `evalharness --version` and `--help` (wall, CPU), and
the fully cached `run` of the demo (the repository's project: everything judged once, then `run -e v2` again).

Each command runs in its own process (wall, CPU user + sys and peak RSS from wait4); every repetition is kept, the
median is the figure. The demo catalog is generated in a child, so this process stays small.
Usage: python bench/startup.py [--repeat 5]
Results: bench/results/startup.json (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALHARNESS, REPO, figures, own_rss_mb, run_child, write_result  # noqa: E402


def repeated(args: list[str], n: int) -> dict:
    """n runs of a command: every run's figures and the medians."""
    runs = [figures(run_child(args)) for _ in range(n)]
    return {"median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 3),
            "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "median_peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs), 1), "runs": runs}


def demo_project(root: Path, cache: Path) -> Path:
    for name in ("engines", "queries", "guidelines"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "evalharness.toml", root / "evalharness.toml")
    run_child([sys.executable, "-c", "import sys, pathlib; from evalharness.sample import ensure_demo_catalog; "
               "ensure_demo_catalog(pathlib.Path(sys.argv[1]))", str(cache)])
    (root / ".evalharness").mkdir()
    (root / ".evalharness" / "demo").symlink_to(cache / "demo", target_is_directory=True)
    return root


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    result: dict = {"version": repeated([*EVALHARNESS, "--version"], args.repeat),
                    "help": repeated([*EVALHARNESS, "--help"], args.repeat)}
    with tempfile.TemporaryDirectory() as tmp:
        project = demo_project(Path(tmp) / "demo-project", Path(tmp) / "cache")
        run = [*EVALHARNESS, "-C", str(project), "run", "-e", "v2", "--json"]
        first = run_child(run)
        cached = repeated(run, args.repeat)
        counts = json.loads(run_child(run)["stdout"])["counts"]
    result["demo_run_first"] = figures(first)
    result["demo_run_cached"] = {**cached, "hits": counts["hits"], "judged_new": counts["judged_new"]}
    result["targets"] = {"version_wall_s": 0.15, "demo_run_cached_cpu_s": 0.5}
    result["launcher_rss_mb"] = own_rss_mb()
    write_result("startup", result)


if __name__ == "__main__":
    main()
