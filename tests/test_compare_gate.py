"""`evalharness compare` and `evalharness gate` through the CLI: statistics, exit codes, Markdown and JUnit."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import assert_user_error, make_project, run_cli

POOL = "pool rule: qrels hold only the labels of the pairs in the runs compared"


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    project = make_project(tmp_path_factory.mktemp("cmp") / "proj", demo_dir, n_queries=120)
    for args in (["-e", "v2", "-b", "v1"], ["-e", "v0"]):
        result = run_cli(project, "run", *args)
        assert result.returncode == 0, result.stderr
    return project


def test_compare_json_has_statistics(ran: Path) -> None:
    result = run_cli(ran, "compare", "v1", "v2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    cand = data["candidates"][0]
    assert data["baseline"]["engine_config"] == "v1" and cand["engine_config"] == "v2"
    assert data["queries"] == 120 and data["judged_new"] == 0  # everything was judged by the runs
    assert data["warnings"] == [] and data["query_overlap"] == 1.0
    assert data["pool"]["judgments"] > 0 and POOL in data["pool"]["note"]
    ndcg = data["metrics"][0]
    assert ndcg["metric"] == "nDCG@10" and ndcg["candidate"] == "v2" and ndcg["delta"] > 0 and ndcg["significant"]
    assert ndcg["ci95"][0] <= ndcg["delta"] <= ndcg["ci95"][1]
    assert ndcg["p_randomization_holm"] >= ndcg["p_randomization"]
    assert ndcg["wins"] + ndcg["ties"] + ndcg["losses"] == 120
    assert ndcg["min_detectable_effect"] > 0
    judged = next(m for m in data["metrics"] if m["metric"] == "Judged@10")
    assert judged["in_holm_family"] is False and judged["p_randomization_holm"] is None
    assert 0 <= cand["overlap"]["jaccard"] <= 1 and 0 <= cand["overlap"]["rbo"] <= 1
    assert cand["judged"] == 1.0 and cand["unjudged_hits"] == 0
    assert len(cand["movers"]) == 10
    segments = {s["group"]: s for s in data["segments"]}
    assert set(segments) == {"head", "torso", "tail"} and sum(s["queries"] for s in segments.values()) == 120
    tail = segments["tail"]["metrics"]["v2"]["nDCG@10"]
    assert tail["delta"] == pytest.approx(tail["candidate"] - tail["baseline"])


def test_compare_judges_only_missing_pairs(ran: Path) -> None:
    import sqlite3

    con = sqlite3.connect(ran / ".evalharness" / "cache.db")
    keys = [r[0] for r in con.execute("SELECT cache_key FROM judgments ORDER BY cache_key LIMIT 7")]
    con.executemany("DELETE FROM judgments WHERE cache_key = ?", [(k,) for k in keys])
    con.commit()
    before = con.execute("SELECT count(*) FROM judgments").fetchone()[0]
    data = json.loads(run_cli(ran, "compare", "v1", "v0", "--json").stdout)
    after = con.execute("SELECT count(*) FROM judgments").fetchone()[0]
    # only pairs of these two runs that lost their judgment are sent to the judge
    assert data["judged_new"] == after - before
    assert 0 < data["judged_new"] <= 7


def test_gate_passes_for_v2_and_fails_for_v0(ran: Path) -> None:
    ok = run_cli(ran, "gate", "--baseline", "v1", "--candidate", "v2")
    assert ok.returncode == 0, ok.stderr
    assert "gate passed" in ok.stdout
    md = (ran / "reports" / "gate.md").read_text()
    assert "PASS" in md and "| nDCG@10 |" in md
    bad = run_cli(ran, "gate", "--baseline", "v1", "--candidate", "v0", "--markdown", "reports/v0.md",
                  "--junit", "reports/v0.xml")
    assert bad.returncode == 1, bad.stderr
    assert "FAIL" in (ran / "reports" / "v0.md").read_text()
    suite = ET.parse(ran / "reports" / "v0.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures")) >= 1 and int(suite.get("tests")) == 7  # + LowQ@10, AttrMatch(color)@10, max_findings
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert "nDCG@10 did not regress" in failed


def test_gate_writes_github_step_summary(ran: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = run_cli(ran, "gate", "-b", "v1", "-c", "v2", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == 0
    assert "Search quality gate" in summary.read_text()


def test_gate_rules_are_configurable(ran: Path, tmp_path: Path) -> None:
    cfg = ran / "evalharness.toml"
    original = cfg.read_text()
    try:
        # a drop bound large enough that v0's collapse passes, and an impossible judged minimum that fails
        cfg.write_text(original.split("[[gate.rules]]")[0].replace("min_judged = 0.95", "min_judged = 1.0")
                       + '[[gate.rules]]\nmetric = "RR(rel=2)"\nmax_drop = 0.99\n')
        result = run_cli(ran, "gate", "-b", "v1", "-c", "v0")
        assert result.returncode == 0, result.stdout
        cfg.write_text(original + '\n[[gate.rules]]\nmetric = "AP"\nmax_drop = 0.1\n')
        assert_user_error(run_cli(ran, "gate", "-b", "v1", "-c", "v2"), "'AP' is not among the compared metrics")
        cfg.write_text(original + '\n[[gate.rules]]\nmetric = "nDCG@10"\n')
        assert_user_error(run_cli(ran, "gate", "-b", "v1", "-c", "v2"), "max_drop or max_relative_drop")
    finally:
        cfg.write_text(original)


def test_compare_unknown_run_is_a_user_error(ran: Path) -> None:
    assert_user_error(run_cli(ran, "compare", "v1", "v9"), "no stored run for 'v9'")


def test_runs_lists_stored_runs(ran: Path) -> None:
    result = run_cli(ran, "runs", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["engine_config"] for r in rows} == {"v0", "v1", "v2"}
    assert all(r["status"] == "finished" and len(r["config_hash"]) == 16 for r in rows)
    assert "v2" in run_cli(ran, "runs").stdout


def test_compare_defaults_to_the_judge_of_the_runs() -> None:
    from evalharness.compare.runs import judge_spec_of

    assert judge_spec_of("offline:rules-v2:text:esr3") == "offline"
    assert judge_spec_of("openai:gpt-4o-mini:image:p0123:t0:esr3:d600:img512") == "openai:gpt-4o-mini"
