"""Per-requirement verdicts from the offline judge, the attribute measures built on them, and query types."""

from __future__ import annotations

import json
import re

import pytest

from evalharness.guidelines.querytypes import classify
from evalharness.judges.base import JudgeRequest
from evalharness.judges.offline import OfflineJudge
from evalharness.judges.verdicts import read_verdicts, verdict_keys, verdict_schema
from evalharness.metrics.verdict_measures import JudgedHit, attr_match, req_coverage, req_met, verdict_holes
from evalharness.models import Guideline, Hit, Query, Requirement

REQS = (Requirement("product_type", "sneakers", "must"), Requirement("color", "red", "should"),
        Requirement("material", "leather", "should"))
GUIDE = Guideline("red leather sneakers", REQS, "", "offline", hash="h")


def verdicts(hit: Hit) -> list[tuple[str, str]]:
    j = OfflineJudge().judge_sync(JudgeRequest(Query("q", GUIDE.query), GUIDE, hit))
    return [(v["attribute"], v["verdict"]) for v in j.details["verdicts"]]


def test_offline_judge_gives_a_verdict_per_requirement() -> None:
    assert verdicts(Hit("d", 1, 1.0, color="red", attributes={"product_type": "sneakers", "material": "leather"})) == [
        ("product_type", "met"), ("color", "met"), ("material", "met")]
    assert verdicts(Hit("d", 1, 1.0, color="blue", attributes={"product_type": "sneakers"})) == [
        ("product_type", "met"), ("color", "not met"), ("material", "unknown")]  # material neither stated nor named
    assert verdicts(Hit("d", 1, 1.0, title="Leather boots", attributes={"product_type": "boots"})) == [
        ("product_type", "not met"), ("color", "unknown"), ("material", "met")]


def test_llm_verdicts_keep_holes_and_never_raise() -> None:
    """The keyed object asked for, or a list; a missing, unreadable, extra or duplicated verdict leaves a hole (verdict
    None) aligned with its requirement and a note, never an error: the label does not depend on the verdicts."""
    keys = verdict_keys(REQS)
    assert keys == ["r1_product_type", "r2_color", "r3_material"]
    entries, notes = read_verdicts(dict(zip(keys, ["met", "not met", "unknown"])), REQS)
    assert [v["verdict"] for v in entries] == ["met", "not met", "unknown"] and notes == []
    assert [(v["attribute"], v["value"]) for v in entries] == [(r.attribute, r.value) for r in REQS]
    entries, notes = read_verdicts({"r1_product_type": "met", "r3_material": "maybe", "r9": "met"}, REQS)
    assert [v["verdict"] for v in entries] == ["met", None, None]
    assert notes == ["1 of 3 verdicts missing", "1 unreadable verdicts", "1 extra verdicts ignored"]
    good = [{"attribute": "product_type", "value": "sneakers", "verdict": "met"},
            {"attribute": "color", "value": "red", "verdict": "not met"}]
    entries, notes = read_verdicts([*good, good[1]], REQS)
    assert [v["verdict"] for v in entries] == ["met", "not met", None]
    assert "1 duplicated verdicts, the first kept" in notes and "1 of 3 verdicts missing" in notes
    assert [v["verdict"] for v in read_verdicts(None, REQS)[0]] == [None, None, None]
    assert read_verdicts("all met", REQS)[1] == ["3 unreadable verdicts"]
    schema = verdict_schema(REQS)
    assert schema["required"] == keys and schema["properties"]["r2_color"]["enum"] == ["met", "not met", "unknown"]
    assert schema["additionalProperties"] is False and verdict_schema(()) is None


def _v(**by_attr: str | None) -> list[dict[str, str | None]]:
    values = {"product_type": "sneakers", "color": "red", "material": "leather"}
    return [{"attribute": a, "value": values[a], "verdict": v and v.replace("_", " ")} for a, v in by_attr.items()]


def _hit(useful: bool = True, **by_attr: str | None) -> JudgedHit:
    return JudgedHit(useful, _v(**by_attr))


def test_attr_match_and_req_met_per_query() -> None:
    per_hit = [_hit(product_type="met", color="met"), _hit(product_type="met", color="not_met"), None,
               _hit(product_type="not_met", color="met")]
    assert attr_match(per_hit, REQS, "color", 4) == pytest.approx(2 / 4)
    assert attr_match(per_hit, REQS, "color", 10) == pytest.approx(2 / 10)  # like P@k: empty positions do not match
    assert attr_match(per_hit, REQS, "brand", 10) is None  # no brand requirement: not in the population
    assert req_met(per_hit, REQS, 4) == pytest.approx(2 / 4)
    assert req_met([], REQS, 10) == 0.0  # a query with no hits scores 0
    assert req_met(per_hit, (Requirement("color", "red", "should"),), 10) is None


def test_attr_match_counts_only_useful_hits() -> None:
    """A wrong product in the right colour (labelled irrelevant) is no attribute match: AttrMatch <= useful share."""
    wrong_but_red = [_hit(False, product_type="not_met", color="met") for _ in range(9)] + [_hit(product_type="met", color="met")]
    assert attr_match(wrong_but_red, REQS, "color", 10) == pytest.approx(0.1)


def test_holes_are_not_met_and_counted() -> None:
    """`"verdict": null` (the judge said nothing on that requirement) is a hole: not met, counted, never a crash."""
    per_hit = [_hit(product_type="met", color=None), _hit(product_type=None, color=None), _hit(product_type="met", color="met"),
               None]
    assert attr_match(per_hit, REQS, "color", 4) == pytest.approx(1 / 4)
    assert req_met(per_hit, REQS, 4) == pytest.approx(2 / 4)  # product_type is the one must requirement
    assert verdict_holes(per_hit, 4) == (3, 6)
    assert req_coverage(per_hit, 4) == pytest.approx(3 / 6)
    assert req_coverage([None, None], 10) is None  # nothing judged with verdicts: no coverage to speak of


def test_a_null_verdict_stored_with_a_judgment_scores_as_a_hole(project) -> None:
    """Verdict holes written into stored judgments go through the run's scoring (the cached path) without a crash."""
    import json
    import sqlite3

    from conftest import run_cli

    toml = project / "evalharness.toml"
    toml.write_text(toml.read_text().replace('"ReqMet@10", "VQ@10", "LowQ@10"]', '"ReqMet@10", "ReqCov@10"]'))
    r = run_cli(project, "run", "-e", "v2", "--json")
    assert r.returncode == 0, r.stderr
    before = json.loads(r.stdout)["metrics"]
    assert before["ReqCov@10"] == 1.0
    with sqlite3.connect(project / ".evalharness" / "cache.db") as db:
        for key, details in db.execute("SELECT cache_key, details FROM judgments").fetchall():
            data = json.loads(details)
            for v in data.get("verdicts") or []:
                v["verdict"] = None  # every verdict a hole
            db.execute("UPDATE judgments SET details = ? WHERE cache_key = ?", (json.dumps(data), key))
    r = run_cli(project, "run", "-e", "v2", "--json")
    assert r.returncode == 0, r.stderr
    after = json.loads(r.stdout)["metrics"]
    assert after["AttrMatch(color)@10"] == 0 and after["ReqMet@10"] == 0 and after["ReqCov@10"] == 0
    assert after["nDCG@10"] == before["nDCG@10"]  # the labels stand; only the verdicts are holes


def test_v0_scores_low_on_attr_match(project) -> None:
    """The deliberately broken config v0 returns wrong products in the right colour: AttrMatch must not reward it."""
    import json

    from conftest import run_cli

    toml = project / "evalharness.toml"
    toml.write_text(toml.read_text().replace('"ReqMet@10", "VQ@10", "LowQ@10"]', '"ReqMet@10"]'))
    scores = {}
    for name in ("v0", "v1"):
        r = run_cli(project, "run", "-e", name, "--json")
        assert r.returncode == 0, r.stderr
        scores[name] = json.loads(r.stdout)["metrics"]
    print({n: (round(m["AttrMatch(color)@10"], 4), round(m["nDCG@10"], 4)) for n, m in scores.items()})
    v0, v1 = scores["v0"]["AttrMatch(color)@10"], scores["v1"]["AttrMatch(color)@10"]
    assert v0 < 0.25 and v0 < v1 / 2  # was 0.996 against 0.562 when a wrong product in the right colour counted


@pytest.mark.parametrize(("query", "reqs", "n_hits", "expected"), [
    ("lamp", [("product_type", "lamp", "must")], 10, "product-type only"),
    ("kestrel lamp", [("product_type", "lamp", "must"), ("brand", "kestrel", "should")], 10, "brand"),
    ("black lamp", [("product_type", "lamp", "must"), ("color", "black", "should")], 10, "attribute"),
    ("kestrel black lamp", [("product_type", "lamp", "must"), ("brand", "kestrel", "should"), ("color", "black", "should")], 10,
     "multi-attribute"),
    ("lammp", [("product_type", "lamp", "must")], 10, "misspelled"),
    ("lamps", [("product_type", "lamp", "must")], 10, "product-type only"),
    ("trainers", [("product_type", "sneakers", "must")], 10, "product-type only"),  # a synonym is no typo
    ("garden gnome", [("keywords", "garden gnome", "must")], 3, "other"),
    ("lamp", [("product_type", "lamp", "must")], 0, "zero-result"),
])
def test_query_types(query: str, reqs: list, n_hits: int, expected: str) -> None:
    assert classify(query, [Requirement(*r) for r in reqs], n_hits) == expected


def test_attribute_metrics_in_a_run_survive_a_cached_rerun(project) -> None:
    import json

    from conftest import run_cli

    from evalharness.project import Project
    from evalharness.store import Store
    from evalharness.store.verdicts import verdict_pool

    toml = project / "evalharness.toml"
    toml.write_text(toml.read_text().replace('"Judged@10"]', '"Judged@10", "AttrMatch(color)@10", "ReqMet@10"]'))
    first = run_cli(project, "run", "-e", "v2", "--json")
    assert first.returncode == 0, first.stderr
    again = run_cli(project, "run", "-e", "v2", "--json")
    assert again.returncode == 0, again.stderr
    a, b = json.loads(first.stdout), json.loads(again.stdout)
    assert b["counts"]["judged_new"] == 0 and b["counts"]["judged_cached"] == b["counts"]["hits"]
    assert 0 < a["metrics"]["AttrMatch(color)@10"] < 1 and 0 < a["metrics"]["ReqMet@10"] <= 1
    assert a["metrics"] == b["metrics"]
    store = Store(Project(project).store_url())
    try:
        pool = verdict_pool(store, [q.guideline_hash for q in store.run_queries(b["run_id"])], b["judge_id"])
    finally:
        store.close()
    entries = [v for docs in pool.values() for verdicts in docs.values() for v in verdicts]
    assert entries and {v["verdict"] for v in entries} <= {"met", "not met", "unknown"}
    assert {"product_type", "color"} <= {v["attribute"] for v in entries}


def test_attribute_measure_names_parse_like_metrics() -> None:
    from evalharness.errors import EvalHarnessError
    from evalharness.metrics.ir import parse_measures
    from evalharness.metrics.measures import higher_is_better, parse_hit_measure

    assert str(parse_hit_measure("AttrMatch(color)@10")) == "AttrMatch(color)@10"
    assert str(parse_hit_measure("ReqMet@5")) == "ReqMet@5" and higher_is_better("ReqMet@5")
    assert len(parse_measures(["nDCG@10", "AttrMatch(brand)@10", "ReqMet@10"])) == 3
    for bad, fragment in (("AttrMatch@10", "needs an argument"), ("ReqMet(color)@10", "takes no argument"),
                          ("AttrMatch(col or)@10", "attribute name")):
        with pytest.raises(EvalHarnessError, match=fragment):
            parse_measures([bad])


def test_a_guideline_edited_after_the_runs_keeps_its_query_in_attr_match(project) -> None:
    # compare records no guideline: a file edited after the runs (a new guideline hash, its pairs judged by compare)
    # is measured on the requirements that file states, the ones its verdicts were judged against, so its query
    # stays in AttrMatch(color)'s population (reading them from the store left it out)
    from conftest import run_cli

    for engine in ("v1", "v2"):
        done = run_cli(project, "run", "-e", engine, "--top-k", "5", "--json")
        assert done.returncode == 0, done.stderr

    def compared() -> dict:
        out = run_cli(project, "compare", "v1", "v2", "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def population(result: dict) -> int:
        return next(row["n"] for row in result["metrics"] if row["metric"] == "AttrMatch(color)@10")

    before = compared()
    wanted = re.compile(r"(- attribute: color\n  value: )(\w+)")  # a guideline that asks for a colour: another one
    path = next(p for p in sorted((project / "guidelines").glob("*.md")) if wanted.search(p.read_text(encoding="utf-8")))
    path.write_text(wanted.sub(lambda m: m[1] + ("teal" if m[2] != "teal" else "olive"), path.read_text(encoding="utf-8")),
                    encoding="utf-8")
    after = compared()
    assert after["judged_new"] > 0 and population(after) == population(before) > 0
