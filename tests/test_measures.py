"""The per-hit measure registry: parsing in ir-measures' form, config validation, runs, comparisons and the gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_project

from evalharness.config import GateConfig, GateRule, ProjectConfig
from evalharness.errors import EvalHarnessError
from evalharness.metrics import measures
from evalharness.metrics.measures import HitMeasure, MeasureFamily


def _share_at_most(values, m: HitMeasure) -> float:
    known = [v for v in values if v is not None]
    return sum(1 for v in known if v <= float(m.arg)) / len(known) if known else 0.0


def _prices(ctx, queries, wanted):
    return {q.id: [h.price for h in q.hits] for q in queries}


def _number(arg: str) -> str | None:
    try:
        float(arg)
    except ValueError:
        return f"'{arg}' is not a price"
    return None


# A plugin family, registered exactly as a feature registers its own: share of the top k priced at most <arg>.
measures.register_provider("test_prices", _prices)
measures.register_family(MeasureFamily("Cheap", "test_prices", _share_at_most, "share of the top k priced at most arg",
                                       higher_is_better=False, arg="a price", validate_arg=_number))


def test_names_parse_in_ir_measures_form() -> None:
    m = measures.parse_hit_measure("Cheap(50)@10")
    assert m == HitMeasure("Cheap", 10, "50") and m.name == "Cheap(50)@10"
    assert measures.parse_hit_measure("nDCG@10") is None and measures.parse_hit_measure("P(rel=2)@10") is None
    assert measures.split_measures(["nDCG@10", "Cheap(9.5)@5", "Judged@10"]) == (["nDCG@10", "Judged@10"], ["Cheap(9.5)@5"])
    assert not measures.higher_is_better("Cheap(50)@10") and measures.higher_is_better("nDCG@10")
    for bad, fragment in (("Cheap@10", "needs an argument"), ("Cheap(x)@10", "not a price"), ("Cheap(5)@0", "at least 1")):
        with pytest.raises(EvalHarnessError, match=fragment):
            measures.parse_hit_measure(bad)


def test_run_metrics_and_gate_rules_accept_per_hit_measures() -> None:
    cfg = ProjectConfig.model_validate({"run": {"metrics": ["nDCG@10", "Cheap(50)@10"]},
                                        "gate": {"rules": [{"metric": "Cheap(50)@10", "max_drop": 0.0}]}})
    assert cfg.run.metrics[1] == "Cheap(50)@10"
    with pytest.raises(EvalHarnessError, match="not a price"):
        ProjectConfig.model_validate({"run": {"metrics": ["Cheap(cheap)@10"]}})


def test_runs_and_comparisons_compute_per_hit_measures(tmp_path: Path, demo_dir: Path) -> None:
    from evalharness.compare.gate import evaluate_gate
    from evalharness.compare.runs import compare_runs
    from evalharness.judges import make_judge
    from evalharness.pipeline.run import RunRequest, run_engine
    from evalharness.project import Project
    from evalharness.querylog.querysets import read_query_set
    from evalharness.store import Store

    project = Project(make_project(tmp_path / "proj", demo_dir, n_queries=40))
    names = ["nDCG@10", "Cheap(60)@5"]
    store = Store(project.store_url())
    judge = make_judge("offline", project.config)
    queries = read_query_set(project.root / "queries" / "demo.csv")
    outcomes = {}
    for engine in ("v1", "v2"):
        req = RunRequest(project.engine(engine), queries, "demo.csv", judge, 10, names, "offline")
        outcomes[engine] = run_engine(project, store, req)
    v2 = outcomes["v2"]
    stored = {q.id: q for q in store.run_queries(v2.run_id)}
    for qid, values in v2.per_query.items():  # an independent computation from the stored hits
        top = [h.price for h in stored[qid].hits[:5]]
        assert values["Cheap(60)@5"] == pytest.approx(sum(p <= 60 for p in top) / len(top) if top else 0.0)
    assert v2.metrics["Cheap(60)@5"] == pytest.approx(sum(v["Cheap(60)@5"] for v in v2.per_query.values()) / 40)

    base, cand = store.get_run(outcomes["v1"].run_id), store.get_run(v2.run_id)
    c = compare_runs(project, store, base, [cand], judge, names)
    mc = {m.metric: m for m in c.rows}["Cheap(60)@5"]
    assert mc.test.n == 40 and mc.test.mean_cand == pytest.approx(v2.metrics["Cheap(60)@5"])
    assert mc.test.ci_low <= mc.test.delta <= mc.test.ci_high
    # A rise of a lower-is-better measure is what the gate calls a regression.
    rule = GateRule(metric="Cheap(60)@5", max_drop=0.0)
    passed = evaluate_gate(c, GateConfig(rules=[rule])).passed
    assert passed == (mc.test.delta <= 0)
    store.close()
