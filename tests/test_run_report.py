"""The single-run report: written by `run --html` and `report RUN`, opened in headless Chromium; payloads stay
text, nothing is fetched, and a custom check installed by entry point shows up next to the built-in ones."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import REPO, make_project, run_cli
from test_checks import install_plugin

from evalharness.config import load_project_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "reports" / "screenshots"
PAYLOADS = ['<script>window.__pwned = 1</script>', '<img src=x onerror="window.__pwned = 2">',
            '"><svg onload="window.__pwned=3">', "</script><script>window.__pwned=4</script>"]


@pytest.fixture(scope="module")
def evil_run(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("runreport")
    project = make_project(root / "proj", demo_dir, n_queries=0)
    products = []
    for i, payload in enumerate(PAYLOADS * 3):
        products.append({"id": f"E{i}", "title": f"Sneakers {payload}", "description": f"desc {payload}", "brand": payload,
                         "color": ["red", "blue"][i % 2], "product_type": "sneakers", "category": "Shoes",
                         "price": 5 if i == 0 else 60 + i, "image": str(demo_dir / "images" / f"P{i:05d}.png")})
    products.append({"id": "M1", "title": "Red mug", "product_type": "mug", "color": "red", "price": 900})
    (project / "evil.jsonl").write_text("\n".join(json.dumps(p) for p in products) + "\n")
    (project / "engines" / "e1.toml").write_text('backend = "tantivy"\n[tantivy]\ncatalog = "evil.jsonl"\n'
                                                 'fields = ["title", "color", "product_type"]\n')
    (project / "queries" / "evil.csv").write_text('id,query,count,segment\nx1,red sneakers,3,head\nx2,"sneakers <script>",1,tail\n'
                                                  'x3,snowmobile,1,tail\n')
    env = {"PYTHONPATH": os.pathsep.join([str(install_plugin(root / "site")), os.environ.get("PYTHONPATH", "")])}
    return project, env


def test_run_html_and_report_command(evil_run: tuple[Path, dict[str, str]]) -> None:
    project, env = evil_run
    result = run_cli(project, "run", "-e", "e1", "-q", "queries/evil.csv", "--html", "reports/run.html", env=env)
    assert result.returncode == 0, result.stderr
    assert "report:" in result.stdout and (project / "reports" / "run.html").exists()
    result = run_cli(project, "report", "e1", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["checks"]["cheap_first"] >= 1 and data["checks"]["zero_results"] == 1
    assert data["checks"]["duplicates"] >= 1 and data["checks"]["price_outliers"] >= 1
    assert {row["group"] for row in data["by_type"]} >= {"attribute", "zero-result"}
    assert [m["metric"] for m in data["metrics"]][:1] == ["nDCG@10"]
    assert all(m["ci95"][0] <= m["mean"] <= m["ci95"][1] for m in data["metrics"])
    assert Path(data["report"]).exists()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (.ci/run installs it)")
def test_run_report_in_the_browser(evil_run: tuple[Path, dict[str, str]]) -> None:
    from playwright.sync_api import sync_playwright

    project, env = evil_run
    result = run_cli(project, "run", "-e", "e1", "-q", "queries/evil.csv", "--html", "reports/run.html", env=env)
    assert result.returncode == 0, result.stderr
    report = project / "reports" / "run.html"
    html = report.read_text()
    assert "<script" not in html.replace("&lt;script", "")  # no script of its own, and no payload as markup
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            assert page.locator("#metrics tbody tr").count() == len(load_project_config(project).run.metrics)
            checks = {r.locator("td").nth(0).inner_text(): int(r.locator("td").nth(1).inner_text())
                      for r in page.locator("#checks tbody tr").all()}
            assert checks["cheap_first"] >= 1 and checks["zero_results"] == 1
            assert "zero-result" in page.inner_text("#types")
            assert [r.locator("td").first.inner_text() for r in page.locator("#segments tbody tr").all()] == ["head", "tail"]
            for summary in page.locator("details.query summary").all():
                summary.click()
            assert page.locator("li.hit .badge.check").count() >= 1  # findings next to the judge's label
            assert page.locator("li.hit .badge.v-met").count() >= 1  # verdicts per requirement
            assert page.locator("img.thumb").count() >= 1
            text = page.inner_text("body")
            assert "<script>window.__pwned = 1</script>" in text  # shown as text
            assert page.evaluate("window.__pwned") is None
            assert all(u.startswith(("file:", "data:")) for u in requests), requests
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "run-report.png"), full_page=True)
        finally:
            browser.close()
