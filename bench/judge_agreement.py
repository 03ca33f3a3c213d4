"""Benchmark: a judge against the human ESCI labels (../shared/data/esci), through `evalharness agreement`.

Builds a throwaway ESCI project (the ESCI catalog and queries, offline guidelines), imports the labels
(`labels import --map esci`), runs `agreement --human esci --judge SPEC --json` twice (the second call
must come entirely from the cache) and writes the figures to bench/results/judge_agreement_<judge>.json.
Pass --judge openai:<model> with --config pointing at an evalharness.toml whose [judge] section has the
endpoint and key variable to measure an LLM judge the same way.
Usage: python bench/judge_agreement.py [--judge SPEC] [--config evalharness.toml] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALHARNESS, figures, run_child, write_result  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ESCI = REPO.parent / "shared" / "data" / "esci"


def evalharness(project: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "evalharness", "-C", str(project), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"evalharness {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def make_project(root: Path, config: Path | None) -> None:
    root.mkdir(parents=True, exist_ok=True)
    extra = config.read_text() if config else ""
    (root / "evalharness.toml").write_text(f'[guidelines]\nwriter = "offline"\ncatalog = "{ESCI / "products.jsonl"}"\n\n{extra}')
    (root / "queries").mkdir(exist_ok=True)
    with (root / "queries" / "esci.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "query", "count", "segment"])
        for line in (ESCI / "queries.jsonl").open():
            q = json.loads(line)
            w.writerow([q["id"], q["text"], 1, ""])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judge", default="offline")
    ap.add_argument("--config", type=Path, help="An evalharness.toml fragment with [judge] settings for LLM judges.")
    ap.add_argument("--keep", type=Path, help="Build the project here instead of a temporary folder.")
    args = ap.parse_args()
    if not ESCI.exists():
        raise SystemExit(f"ESCI data not found at {ESCI}")
    with tempfile.TemporaryDirectory() as tmp:
        project = args.keep or Path(tmp) / "esci"
        make_project(project, args.config)
        evalharness(project, "labels", "import", str(ESCI / "labels.csv"), "--as", "esci", "--format", "csv", "--map", "esci")
        command = [*EVALHARNESS, "-C", str(project), "agreement", "--human", "esci", "--judge", args.judge, "--json"]
        calls = [run_child(command), run_child(command)]  # the second one entirely from the cache
        first, second = (json.loads(c["stdout"]) for c in calls)
    j = first["judges"][0]
    keys = ("pairs", "accuracy", "kappa", "kappa_linear", "kappa_quadratic", "alpha_ordinal", "spearman", "ci95", "confusion",
            "distribution", "per_1000_pairs", "pairs_per_s", "hard_disagreements")
    write_result(f"judge_agreement_{args.judge.replace(':', '_')}", {
        "judge": j["judge_id"], "labels": first["labels"], "queries": first["queries"], **{k: j[k] for k in keys},
        "first_call_s": round(calls[0]["wall_s"], 2), "second_call_s": round(calls[1]["wall_s"], 2),
        "first_call": figures(calls[0]), "second_call": figures(calls[1]), "target_first_call_cpu_s": 20,
        "second_call_judged_now": second["judges"][0]["judged_now"],
    })


if __name__ == "__main__":
    main()
