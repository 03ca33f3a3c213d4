"""The HTML report in headless Chromium: renders, drills down, works offline, never runs injected script."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import REPO, make_project, run_cli

from evalharness.config import load_project_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (.ci/run installs it)")
SCREENSHOTS = REPO / "reports" / "screenshots"

PAYLOADS = ['<script>window.__pwned = 1</script>', '<img src=x onerror="window.__pwned = 2">',
            '"><svg onload="window.__pwned=3">', "</script><script>window.__pwned=4</script>"]


def _browser():
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"])
    return pw, browser


def _open(report: Path):
    pw, browser = _browser()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri())
    page.wait_for_selector("#queries tbody tr")
    return pw, browser, page, requests, errors


@pytest.fixture(scope="module")
def evil_project(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    project = make_project(tmp_path_factory.mktemp("evil") / "proj", demo_dir, n_queries=0)
    products = []
    for i, payload in enumerate(PAYLOADS * 3):
        products.append({"id": f"E{i}", "title": f"Sneakers {payload} {i}", "description": f"desc {payload}", "brand": payload,
                         "color": ["red", payload][i % 2], "product_type": "sneakers", "category": "Shoes",
                         "price": 10 + i, "image": str(demo_dir / "images" / f"P{i:05d}.png")})
    (project / "evil.jsonl").write_text("\n".join(json.dumps(p) for p in products) + "\n")
    for name, fields in (("e1", '["title"]'), ("e2", '["title", "brand", "color"]')):
        (project / "engines" / f"{name}.toml").write_text(f'backend = "tantivy"\n[tantivy]\ncatalog = "evil.jsonl"\nfields = {fields}\n')
    (project / "queries" / "evil.csv").write_text('id,query,count,segment\nx1,red sneakers,3,head\nx2,"sneakers <script>",1,tail\n')
    for name in ("e1", "e2"):
        result = run_cli(project, "run", "-e", name, "-q", "queries/evil.csv")
        assert result.returncode == 0, result.stderr
    result = run_cli(project, "compare", "e1", "e2", "--html", "reports/evil.html", "--markdown", "reports/evil.md")
    assert result.returncode == 0, result.stderr
    return project


def test_script_payloads_never_execute(evil_project: Path) -> None:
    report = evil_project / "reports" / "evil.html"
    html = report.read_text()
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    pw, browser, page, requests, errors = _open(report)
    try:
        page.locator("#queries tbody tr").first.click()
        page.wait_for_selector("#drilldown li.hit")
        for row in page.locator("#queries tbody tr").all():
            row.click()
        assert page.evaluate("window.__pwned") is None
        text = page.inner_text("body")
        assert "<script>window.__pwned = 1</script>" in text or "<img src=x onerror" in text  # shown as text
        assert "<svg" not in page.inner_html("#drilldown").replace("&lt;svg", "")  # never parsed into elements
        assert page.locator("#drilldown img.thumb").count() > 0
        assert all(u.startswith(("file:", "data:")) for u in requests), requests
        assert not errors, errors
    finally:
        browser.close()
        pw.stop()
    md = (evil_project / "reports" / "evil.md").read_text()
    assert "<script>" not in md


def test_demo_report_renders_offline_under_5mb(tmp_path: Path, demo_dir: Path) -> None:
    project = make_project(tmp_path / "proj", demo_dir, n_queries=None)
    assert run_cli(project, "run", "-e", "v2", "-b", "v1").returncode == 0
    result = run_cli(project, "compare", "v1", "v2", "--html", "reports/compare-v1-v2.html")
    assert result.returncode == 0, result.stderr
    report = project / "reports" / "compare-v1-v2.html"
    assert report.stat().st_size < 5 * 1024 * 1024
    html = report.read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    pw, browser, page, requests, errors = _open(report)
    try:
        rows = page.locator("#metrics tbody tr")
        assert rows.count() == len(load_project_config(project).run.metrics)  # one row per configured metric
        assert "nDCG@10" in rows.first.inner_text()
        assert page.locator("svg.chart rect").count() >= 6
        assert [r.inner_text().split()[0] for r in page.locator("#segments tbody tr").all()] == ["head", "torso", "tail"]
        segments = page.locator("#segments").inner_text()  # no head query names a colour: a dash, never "nan"
        assert "nan" not in segments.lower() and "—" in segments, segments
        n = page.locator("#queries tbody tr").count()
        assert n == 323
        page.fill("#filter", "sneakers")
        assert 0 < page.locator("#queries tbody tr").count() < n
        page.locator("#queries tbody tr").first.click()
        page.wait_for_selector("#drilldown .side li.hit")
        assert page.locator("#drilldown .side").count() == 2
        assert page.locator("#drilldown li.label-relevant, #drilldown li.label-substitute, #drilldown li.label-irrelevant").count() > 0
        page.locator("#queries th[data-key=delta]").click()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / "compare-v1-v2.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 20_000
        assert all(u.startswith(("file:", "data:")) for u in requests), [u for u in requests if not u.startswith("data:")][:5]
        assert not errors, errors
    finally:
        browser.close()
        pw.stop()


def test_large_report_opens_at_top_and_drills_on_demand(tmp_path: Path, demo_dir: Path) -> None:
    import sqlite3
    import sys

    sys.path.insert(0, str(REPO / "bench"))
    from compare_scale import build_project
    from test_compare_honest import clone_run

    project = build_project(tmp_path / "proj", 400, 20, demo_dir=demo_dir)
    clone_run(project, "cand", "cand2-bench", "finished")
    con = sqlite3.connect(project / ".evalharness" / "cache.db")
    con.execute("UPDATE runs SET engine_config = 'cand2' WHERE run_id = 'cand2-bench'")
    con.commit()
    con.close()
    result = run_cli(project, "compare", "base", "cand", "cand2", "--html", "reports/big.html")
    assert result.returncode == 0, result.stderr
    report = project / "reports" / "big.html"
    html = report.read_text()
    data = json.loads(html.split('<script type="application/json" id="report-data">')[1].split("</script>")[0])
    assert len(data["queries"]) == 400 and len(data["configs"]) == 3
    assert len(data["products"]) <= 2400  # each product once, however many queries and configs show it
    assert len(data["images"]) == len(set(data["images"]))  # identical thumbnails stored once
    thumbs = list((project / ".evalharness" / "thumbs").rglob("*.txt"))
    assert len(thumbs) >= len(data["images"]) > 0  # encoded once per image, kept on disk for the next report
    pw, browser, page, requests, errors = _open(report)
    try:
        assert page.evaluate("window.scrollY") == 0  # opens at the top, not at the drill-down
        assert page.locator("#queries tbody tr").count() == 400
        drill = page.inner_text("#drilldown")
        assert "Guideline the judge used" in drill and "catalog: demo" in drill and "description: cand (synthetic)" in drill
        page.locator("#queries tbody tr").last.click()
        page.wait_for_selector("#drilldown .side li.hit")
        assert page.locator("#drilldown .side").nth(1).locator("li.hit").count() == 20
        page.select_option("#config", "2")
        assert "cand2" in page.inner_text("#drilldown .side >> nth=1")
        assert all(u.startswith(("file:", "data:")) for u in requests)
        assert not errors, errors
    finally:
        browser.close()
        pw.stop()


def test_report_shows_image_quality_badges_and_worst_photos(tmp_path: Path, demo_dir: Path) -> None:
    """Image quality in the report: a score badge on the thumbnails and each configuration's worst photos."""
    project = make_project(tmp_path / "proj", demo_dir, n_queries=30)
    for engine in ("v2", "v2-photos"):
        assert run_cli(project, "run", "-e", engine).returncode == 0
    result = run_cli(project, "compare", "v2", "v2-photos", "--html", "reports/photos.html")
    assert result.returncode == 0, result.stderr
    pw, browser, page, requests, errors = _open(project / "reports" / "photos.html")
    try:
        worst = page.locator("#worst-images li.worst-image")
        assert worst.count() > 0
        first = int(worst.first.locator(".qbadge").inner_text())
        assert 1 <= first <= 2  # v2's worst photo in the demo is a degraded one
        assert page.locator("#worst-images h3").all_inner_texts() == ["v2", "v2-photos"]
        page.locator("#queries tbody tr").first.click()
        page.wait_for_selector("#drilldown li.hit")
        badges = page.locator("#drilldown li.hit .qbadge")
        assert badges.count() == page.locator("#drilldown li.hit").count() > 0
        assert badges.first.get_attribute("title").startswith("photo quality ")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#worst-images").screenshot(path=str(SCREENSHOTS / "worst-images.png"))
        assert not errors, errors
    finally:
        browser.close()
        pw.stop()
