"""Rule checks on crafted lists, a custom check installed through a real entry point, and the config they read."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import assert_user_error, run_cli

from evalharness.checks.base import CheckContext
from evalharness.checks.builtin import FewResults, NearDuplicates, PriceOutliers, WrongTypeAbove, ZeroResults
from evalharness.checks.registry import count_findings, enabled_checks, run_checks
from evalharness.config import ChecksConfig
from evalharness.errors import EvalHarnessError
from evalharness.models import Hit, Requirement

TYPE = (Requirement("product_type", "lamp", "must"),)


def hits(*specs: dict) -> list[Hit]:
    return [Hit(doc_id=s.get("doc_id", f"D{i}"), rank=i, score=1.0, title=s.get("title", f"Product {i}"), brand=s.get("brand", ""),
                price=s.get("price"), image_url=s.get("image_url", ""), attributes=s.get("attributes", {}))
            for i, s in enumerate(specs, 1)]


def ctx(hit_list: list[Hit], requirements=TYPE, k: int = 10) -> CheckContext:
    return CheckContext("q1", "lamp", hit_list, requirements, k)


def test_near_duplicates_flag_the_later_copy_only() -> None:
    lst = hits({"title": "Corvo Vista Lamp", "brand": "Corvo"}, {"title": "Halden Desk Lamp"},
               {"title": "Corvo  Vista lamp", "brand": "Corvo"}, {"title": "Other", "image_url": "x.png"},
               {"title": "Different", "image_url": "x.png"})
    found = NearDuplicates().run(ctx(lst))
    assert [(f.rank, f.doc_id) for f in found] == [(3, "D3"), (5, "D5")]
    assert "#1 (D1)" in found[0].detail and "same image" in found[1].detail
    assert NearDuplicates().run(ctx(lst, k=2)) == []  # only the top k is looked at


def _pairwise_duplicates(check: NearDuplicates, c: CheckContext) -> list[tuple[int, str]]:
    """The plain scan: every hit against every earlier one, first match wins (what the indexed check must equal)."""
    from evalharness.checks.titles import title_key

    seen, out = [], []
    for hit in c.hits[: c.k]:
        key = title_key(hit)
        for earlier, earlier_key in seen:
            same_image = bool(hit.image_url) and hit.image_url == earlier.image_url
            if same_image or check._similar(key, earlier_key):
                out.append((hit.rank, f"{'same image as' if same_image else 'near-identical title to'} #{earlier.rank}"))
                break
        seen.append((hit, key))
    return out


@pytest.mark.parametrize("max_indexed", [4096, 8])
def test_near_duplicates_equal_the_pairwise_scan(monkeypatch: pytest.MonkeyPatch, max_indexed: int) -> None:
    """Random lists with near-identical titles, shared images, empty and non-ASCII titles: the same findings as comparing
    every pair, with the keys indexed all against all and (max_indexed 8) compared list by list."""
    import random

    monkeypatch.setattr("evalharness.checks.titles.MAX_INDEXED", max_indexed)
    rng = random.Random(5)
    words = ["lamp", "desk", "corvo", "vista", "halden", "oak", "brass", "lampe", "çà", "ü", "x"]
    pool = [" ".join(rng.choices(words, k=rng.randint(0, 5))) for _ in range(40)]
    pool += [t + rng.choice(["", "s", " ", "e"]) for t in pool[:20]]
    for similarity in (0.92, 0.8, 1.0):
        check = NearDuplicates(similarity)
        for q in range(60):
            specs = [{"title": rng.choice(pool), "brand": rng.choice(["", "Corvo", "corvo"]),
                      "image_url": rng.choice(["", "", "", "a.png", "b.png"])} for _ in range(rng.randint(0, 25))]
            c = CheckContext(f"q{q}", "lamp", hits(*specs), TYPE, 20)
            got = [(f.rank, f.detail.rpartition(" (")[0]) for f in check.run(c)]
            assert got == _pairwise_duplicates(check, c)


def test_price_outliers_need_a_robust_and_a_large_distance() -> None:
    lst = hits(*({"price": p} for p in (50, 52, 48, 51, 49, 500, 25)))
    found = PriceOutliers().run(ctx(lst))
    assert [f.rank for f in found] == [6]  # 25 is far by z-score but only 2x below the median: not flagged
    assert "500" in found[0].detail and "median 50" in found[0].detail
    same = hits(*({"price": 10} for _ in range(5)), {"price": 40})
    assert [f.rank for f in PriceOutliers().run(ctx(same))] == [6]  # MAD 0: the ratio decides
    assert PriceOutliers().run(ctx(hits({"price": 1}, {"price": 100}, {"price": None}))) == []  # too few prices


def test_zero_and_few_results() -> None:
    assert [f.detail for f in ZeroResults().run(ctx([]))] == ["no result"]
    assert ZeroResults().run(ctx(hits({}))) == []
    few = FewResults(3)
    assert few.run(ctx([])) == []  # zero results is the other check's finding
    assert len(few.run(ctx(hits({}, {})))) == 1 and few.run(ctx(hits({}, {}, {}))) == []


def test_wrong_type_above_every_right_one() -> None:
    lst = hits({"attributes": {"product_type": "mug"}}, {"title": "Plain thing"}, {"attributes": {"product_type": "lamp"}},
               {"attributes": {"product_type": "watch"}})
    found = WrongTypeAbove().run(ctx(lst))
    assert [(f.rank, f.doc_id) for f in found] == [(1, "D1")]  # rank 2 states no type; rank 4 is below a right one
    assert "'mug'" in found[0].detail and "#3" in found[0].detail
    assert WrongTypeAbove().run(ctx(hits({"attributes": {"product_type": "mug"}}))) == []  # no right one at all
    assert WrongTypeAbove().run(ctx(lst, requirements=())) == []


def test_counts_within_k_and_config_names() -> None:
    lst = hits({"title": "A lamp"}, {"title": "A lamp"}, {"title": "B"}, {"title": "A lamp"})
    findings = run_checks(enabled_checks(ChecksConfig(enabled=["duplicates"])), [ctx(lst)])
    assert count_findings(findings, "duplicates", 10) == 2 and count_findings(findings, "duplicates", 3) == 1
    with pytest.raises(EvalHarnessError, match="unknown check"):
        enabled_checks(ChecksConfig(enabled=["nope"]))


PLUGIN = '''
from evalharness.checks.base import Finding


class CheapCheck:
    name = "cheap_first"
    description = "a hit in the top k costs under 20"

    def run(self, ctx):
        return [Finding(self.name, ctx.query_id, f"costs {h.price}", h.doc_id, h.rank)
                for h in ctx.hits[: ctx.k] if h.price is not None and h.price < 20]


def broken():
    raise RuntimeError("plugin exploded")
'''


def install_plugin(site: Path, target: str = "CheapCheck") -> Path:
    """A real distribution in a site dir: module + dist-info with an evalharness.checks entry point."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "eh_test_checks.py").write_text(PLUGIN)
    info = site / "eh_test_checks-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: eh-test-checks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[evalharness.checks]\ncheap_first = eh_test_checks:{target}\n")
    return site


def test_entry_point_check_is_found_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    checks = enabled_checks(ChecksConfig())
    assert "cheap_first" in [c.name for c in checks] and "duplicates" in [c.name for c in checks]
    found = run_checks([c for c in checks if c.name == "cheap_first"], [ctx(hits({"price": 5}, {"price": 50}))])
    assert [(f.check, f.rank, f.detail) for f in found] == [("cheap_first", 1, "costs 5")]
    sys.modules.pop("eh_test_checks", None)


def test_broken_plugin_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = install_plugin(tmp_path / "site", "broken")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(EvalHarnessError, match="cannot load check entry point 'cheap_first"):
        enabled_checks(ChecksConfig())
    sys.modules.pop("eh_test_checks", None)


def test_bad_checks_config_is_one_line(project: Path) -> None:
    toml = project / "evalharness.toml"
    text = toml.read_text()
    toml.write_text(text.replace("[checks]\n", '[checks]\nenabled = ["duplicates", "nope"]\n', 1) if "[checks]\n" in text
                    else text + '\n[checks]\nenabled = ["duplicates", "nope"]\n')
    assert run_cli(project, "run", "-e", "v2").returncode == 0  # the run itself does not need checks
    assert_user_error(run_cli(project, "report", "v2"), "unknown check(s) nope", "available: duplicates")
