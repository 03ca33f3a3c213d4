"""The rating page in headless Chromium: keyboard rating with reload and resume, hostile catalog text, two raters
at once, the token and the loopback bind. The real `evalharness rate` command serves it (uvicorn, a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, make_project, run_cli
from test_report_browser import CHROMIUM, PAYLOADS, SCREENSHOTS, _browser

from evalharness.models import sha256_hex
from evalharness.store import Store
from evalharness.store.labels import labels_for
from evalharness.store.rating import sample_items
from evalharness.textnorm import normalize_query

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium not installed (.ci/run installs it)")
KEYS = {"1": "irrelevant", "2": "substitute", "3": "relevant"}
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]


class RateServer:
    """`evalharness rate ... --port 0 --no-open` in a subprocess; the URL is its first stdout line."""

    def __init__(self, project: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "evalharness", "-C", str(project), "rate", "--no-open", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://"):
            self.proc.kill()
            raise AssertionError(f"rate did not start: {line} {self.proc.stderr.read()}")
        self.url = line
        self.port = int(re.match(r"http://[^/]+:(\d+)/", line).group(1))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def store_of(project: Path) -> Store:
    return Store(f"sqlite:///{project / '.evalharness' / 'cache.db'}")


@pytest.fixture(scope="module")
def rated_project(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    project = make_project(tmp_path_factory.mktemp("rate") / "proj", demo_dir, n_queries=20)
    result = run_cli(project, "run", "-e", "v2")
    assert result.returncode == 0, result.stderr
    return project


def _count(page) -> str:
    return page.text_content("#count") or ""


def _wait_count(page, labelled: int, total: int) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#count")).to_have_text(re.compile(rf"^{labelled} of {total} labelled"))


def test_label_twenty_pairs_by_keyboard_reload_and_continue(rated_project: Path) -> None:
    from playwright.sync_api import expect

    server = RateServer(rated_project, "--as", "ann", "--name", "solo", "--sample", "24", "--seed", "7")
    pw, browser = _browser()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.url)
        given: dict[tuple[str, str], str] = {}
        for i in range(20):
            _wait_count(page, i, 24)  # the previous label is stored (the page shows the count the server returned)
            if i == 12:
                page.reload()  # resumable: the page asks the store where this rater stopped
                _wait_count(page, i, 24)
            query, doc = page.text_content("#query"), page.text_content("#doc-id")
            key = "123"[i % 3]
            if i == 5:  # undo: the label is withdrawn and the same pair comes back
                page.keyboard.press("1")
                _wait_count(page, 6, 24)
                page.keyboard.press("u")
                _wait_count(page, 5, 24)
                assert (page.text_content("#query"), page.text_content("#doc-id")) == (query, doc)
            if i == 8:  # skip moves on without a label; undo brings the pair back
                page.keyboard.press("s")
                expect(page.locator("#count")).to_contain_text("1 skipped")
                assert page.text_content("#doc-id") != doc or page.text_content("#query") != query
                page.keyboard.press("u")
                expect(page.locator("#count")).not_to_contain_text("skipped")
                assert (page.text_content("#query"), page.text_content("#doc-id")) == (query, doc)
            if i == 10:
                page.keyboard.press("n")
                page.keyboard.type("3 looks right, 2 is close")  # digits typed into the note are not labels
                page.keyboard.press("Escape")
                _wait_count(page, 10, 24)
            if i == 11:
                # the photo is shown once this pair's image has loaded (never the previous pair's)
                page.wait_for_function("() => { const i = document.getElementById('image');"
                                       " return i.hidden || (i.complete && i.style.visibility !== 'hidden'); }")
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "rate-page.png"))
                if os.environ.get("EVALHARNESS_DOCS_SCREENSHOT") == "1":  # refresh the README's copy on purpose only
                    shutil.copy(SCREENSHOTS / "rate-page.png", REPO / "docs" / "rate-page.png")
                page.keyboard.press("?")
                assert page.is_visible("#help")
                page.keyboard.press("?")
                assert not page.is_visible("#help")
            page.keyboard.press(key)
            given[(normalize_query(query), doc)] = KEYS[key]
        _wait_count(page, 20, 24)
        assert len(set(given)) == 20
        assert all(u.startswith(server.url) for u in requests), [u for u in requests if not u.startswith(server.url)]
        assert not errors, errors
    finally:
        browser.close()
        pw.stop()
        server.stop()
    store = store_of(rated_project)
    try:
        items = sample_items(store, "solo")
        stored = labels_for(store, "human:ann", [it.query for it in items])
        with store.engine.connect() as conn:
            notes = [r[0] for r in conn.exec_driver_sql("select note from labels where source = 'human:ann' and note != ''")]
    finally:
        store.close()
    assert stored == given
    assert notes == ["3 looks right, 2 is close"]
    assert (SCREENSHOTS / "rate-page.png").stat().st_size > 20_000


@pytest.fixture(scope="module")
def evil_project(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> Path:
    project = make_project(tmp_path_factory.mktemp("evil-rate") / "proj", demo_dir, n_queries=0)
    payloads = [*PAYLOADS, "javascript:window.__pwned=5", "{{7*7}} ${7*7} <b>bold</b>"]
    products = [{"id": f"E{i}\"><script>window.__pwned=6</script>", "title": f"Sneakers {p} {i}", "description": f"desc {p}",
                 "brand": p, "color": p, "material": p, "product_type": "sneakers", "category": f"Shoes > {p}", "price": 10 + i,
                 "image": str(demo_dir / "images" / f"P{i:05d}.png")} for i, p in enumerate(payloads * 2)]
    (project / "evil.jsonl").write_text("\n".join(json.dumps(p) for p in products) + "\n")
    (project / "engines" / "evil.toml").write_text('backend = "tantivy"\n[tantivy]\ncatalog = "evil.jsonl"\nfields = ["title", "brand"]\n')
    evil_query = "sneakers <script>window.__pwned=7</script>"
    (project / "queries" / "evil.csv").write_text(f'id,query,count,segment\nx1,sneakers,3,head\nx2,"{evil_query}",1,tail\n')
    result = run_cli(project, "run", "-e", "evil", "-q", "queries/evil.csv")
    assert result.returncode == 0, result.stderr
    return project


def test_hostile_catalog_text_stays_inert(evil_project: Path) -> None:
    server = RateServer(evil_project, "--as", "eve", "--from", "run", "evil", "--sample", "100", "--show-judge")  # every pair: each payload shown
    pw, browser = _browser()
    try:
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server.url)
        seen_text = ""
        total = int(re.search(r"of (\d+)", page.wait_for_selector("#count:has-text('labelled')").text_content()).group(1))
        for i in range(total):
            _wait_count(page, i, total)
            assert page.evaluate("window.__pwned") is None
            assert page.locator("script").count() == 2  # the scheme JSON and the page's own script, nothing injected
            assert page.locator("#main svg, #main iframe, #main b, #main [onerror], #main [onload]").count() == 0
            seen_text += page.inner_text("#main")
            page.keyboard.press("2")
        _wait_count(page, total, total)
        assert page.evaluate("window.__pwned") is None and not dialogs
        assert "<script>window.__pwned = 1</script>" in seen_text and "<b>bold</b>" in seen_text  # shown as text
        assert "{{7*7}} ${7*7}" in seen_text  # never evaluated as a template
        assert "<script>window.__pwned=7</script>" in seen_text  # the query and its guideline, as text
    finally:
        browser.close()
        pw.stop()
        server.stop()


def _fetch(url: str, data: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _listening(port: int) -> set[str]:
    """Local addresses listening on this port, from /proc/net/tcp and tcp6 (hex, as the kernel shows them)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


def test_token_required_and_loopback_unless_host(rated_project: Path) -> None:
    server = RateServer(rated_project, "--as", "tom", "--name", "gate", "--sample", "5")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        base = f"http://127.0.0.1:{server.port}"
        token = server.url.rstrip("/").rsplit("/", 1)[1]
        assert _fetch(server.url) == 200
        assert _fetch(f"{server.url}api/state") == 200
        for path in ("/", "/api/state", "/img/0", f"/{token[:-1]}/", f"/{token}x/api/state", f"/x/{token}/"):
            assert _fetch(base + path) == 403, path
        assert _fetch(base + "/api/label", b'{"item": 0, "label": "relevant"}') == 403
        assert _listening(server.port) == {"0100007F"}  # 127.0.0.1 only
    finally:
        server.stop()
    server = RateServer(rated_project, "--as", "tom", "--name", "gate", "--host", "0.0.0.0")
    try:
        assert _listening(server.port) == {"00000000"}
        assert _fetch(server.url.replace("0.0.0.0", "127.0.0.1")) == 200
    finally:
        server.stop()


def _rater_label(rater: str, query: str, doc: str) -> str:
    """A deterministic label per rater; cyd and dee agree on most pairs and differ on some."""
    h = int(sha256_hex(f"{query}|{doc}")[:8], 16)
    base = "123"[h % 3]
    if rater == "dee" and h % 5 == 0:
        base = "123"[(h + 1) % 3]
    return base


async def _rate_all(browser, url: str, rater: str, total: int) -> dict[tuple[str, str], str]:
    from playwright.async_api import expect

    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url)
    given = {}
    for i in range(total):
        await expect(page.locator("#count")).to_have_text(re.compile(rf"^{i} of {total} labelled"))
        query, doc = await page.text_content("#query"), await page.text_content("#doc-id")
        key = _rater_label(rater, query, doc)
        given[(normalize_query(query), doc)] = KEYS[key]
        await page.keyboard.press(key)
    await expect(page.locator("#count")).to_have_text(re.compile(rf"^{total} of {total} labelled"))
    await context.close()
    return given


def test_two_raters_at_once_and_fleiss_kappa(rated_project: Path) -> None:
    from playwright.async_api import async_playwright
    from statsmodels.stats.inter_rater import fleiss_kappa

    ann = RateServer(rated_project, "--as", "cyd", "--name", "pair", "--sample", "16", "--raters", "cyd,dee", "--per-pair", "2",
                     "--seed", "3")
    bob = RateServer(rated_project, "--as", "dee", "--name", "pair")

    async def both() -> list[dict]:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                return await asyncio.gather(_rate_all(browser, ann.url, "cyd", 16), _rate_all(browser, bob.url, "dee", 16))
            finally:
                await browser.close()

    try:
        given_cyd, given_dee = asyncio.run(both())
    finally:
        ann.stop()
        bob.stop()
    store = store_of(rated_project)
    try:
        queries = [it.query for it in sample_items(store, "pair")]
        stored_cyd, stored_dee = labels_for(store, "human:cyd", queries), labels_for(store, "human:dee", queries)
    finally:
        store.close()
    assert stored_cyd == given_cyd and stored_dee == given_dee and len(stored_cyd) == 16
    result = run_cli(rated_project, "agreement", "--raters", "cyd,dee", "--rating-sample", "pair", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # Independent Fleiss' kappa: statsmodels on the stored labels, and the textbook formula by hand.
    names = ["irrelevant", "substitute", "relevant"]
    table = np.array([[sum(1 for s in (stored_cyd, stored_dee) if s[k] == n) for n in names] for k in sorted(stored_cyd)], float)
    p_j = table.sum(axis=0) / table.sum()
    p_i = (np.square(table).sum(axis=1) - 2) / 2
    by_hand = (p_i.mean() - np.square(p_j).sum()) / (1 - np.square(p_j).sum())
    assert report["fleiss"]["kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-12)
    assert report["fleiss"]["kappa"] == pytest.approx(by_hand, abs=1e-12)
    assert report["fleiss"]["pairs"] == 16
    agree = np.mean([stored_cyd[k] == stored_dee[k] for k in stored_cyd])
    assert report["pairwise"][0]["agreement"] == pytest.approx(agree)
    result = run_cli(rated_project, "agreement", "--raters", "cyd,dee", "--rating-sample", "pair", "--gold", "pairgold")
    assert result.returncode == 0, result.stderr
    assert "Fleiss' kappa" in result.stdout and "stored as human:pairgold" in result.stdout
    store = store_of(rated_project)
    try:
        gold = labels_for(store, "human:pairgold", queries)
    finally:
        store.close()
    ties = {k for k in stored_cyd if stored_cyd[k] != stored_dee[k]}
    assert gold == {k: (v if k not in ties else min(v, stored_dee[k], key=names.index)) for k, v in stored_cyd.items()}
