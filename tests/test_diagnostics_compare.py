"""Diagnostics in comparisons and the gate: AttrMatch/ReqMet with CIs over their populations, the per-type table,
check counts per config, a gate rule on AttrMatch(color)@10 failing the colour-blind config, and max_findings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_project, run_cli

from evalharness.checks.compared import population_tests
from evalharness.compare.stats import paired_tests


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    project = make_project(tmp_path_factory.mktemp("diagcmp") / "proj", demo_dir, n_queries=120)
    for args in (("-e", "v2", "-b", "v1"), ("-e", "v2-nocolor")):
        result = run_cli(project, "run", *args)
        assert result.returncode == 0, result.stderr
    return project


def test_compare_prints_attribute_metrics_types_and_checks(runs: Path) -> None:
    result = run_cli(runs, "compare", "v1", "v2", "--markdown", "reports/c.md")
    assert result.returncode == 0, result.stderr
    for text in ("AttrMatch(color)@10", "ReqMet@10", "By query type", "attribute", "zero-result", "rule checks: v1 duplicates"):
        assert text in result.stdout, text
    data = json.loads(run_cli(runs, "compare", "v1", "v2", "--json").stdout)
    rows = {r["metric"]: r for r in data["metrics"]}
    color = rows["AttrMatch(color)@10"]
    assert color["ci95"][0] <= color["delta"] <= color["ci95"][1] and color["delta"] > 0
    assert 0 < color["n"] < data["queries"]  # only queries that ask for a colour
    assert rows["ReqMet@10"]["n"] == data["queries"]
    types = {row["group"]: row for row in data["types"]}
    assert {"product-type only", "attribute", "multi-attribute"} <= set(types)
    assert types["product-type only"]["metrics"]["v2"]["AttrMatch(color)@10"]["delta"] is None  # no colour asked
    assert set(data["checks"]) == {"v1", "v2"} and data["checks"]["v1"]["zero_results"] >= data["checks"]["v2"]["zero_results"]
    md = (runs / "reports" / "c.md").read_text()
    assert "By query type" in md and "Rule checks" in md


def test_gate_fails_the_config_that_ignores_colour(runs: Path) -> None:
    result = run_cli(runs, "gate", "--baseline", "v2", "--candidate", "v2-nocolor")
    assert result.returncode == 1, result.stderr
    fail = [line for line in result.stdout.splitlines() if "FAIL" in line and "AttrMatch(color)@10" in line]
    assert fail, result.stdout
    ok = run_cli(runs, "gate", "--baseline", "v1", "--candidate", "v2")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "max_zero_results@10" in ok.stdout


def test_gate_on_findings(runs: Path) -> None:
    toml = runs / "evalharness.toml"
    original = toml.read_text()
    try:
        toml.write_text(original.replace('"zero_results@10" = 10', '"duplicates@10" = 0'))
        result = run_cli(runs, "gate", "--baseline", "v1", "--candidate", "v2")
        assert result.returncode == 1
        assert any("FAIL" in line and "max_duplicates@10" in line for line in result.stdout.splitlines()), result.stdout
        toml.write_text(original.replace('"zero_results@10" = 10', '"nope@10" = 0'))
        bad = run_cli(runs, "gate", "--baseline", "v1", "--candidate", "v2")
        assert bad.returncode == 2 and "names check 'nope'" in bad.stderr
    finally:
        toml.write_text(original)


def test_population_tests_match_tests_on_the_subset() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.random((40, 2)), rng.random((40, 2))
    x[::3, 1] = np.nan  # queries outside the second measure's population
    tests = population_tests(x, y, None, seed=0, alpha=0.05)
    keep = ~np.isnan(x[:, 1])
    alone = paired_tests(x[keep, 1], y[keep, 1], None, seed=0)[0]
    assert tests[1].n == keep.sum() == alone.n and tests[1].delta == pytest.approx(alone.delta)
    assert tests[1].p_randomization == pytest.approx(alone.p_randomization)
    full = paired_tests(x[:, 0], y[:, 0], None, seed=0)[0]
    assert tests[0].n == 40 and tests[0].delta == pytest.approx(full.delta) and tests[0].ci_low == pytest.approx(full.ci_low)
