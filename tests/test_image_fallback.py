"""Images that cannot be read fall back to text judging (the default), recorded on the judgment, cached under the
text-mode key; `image_fallback = "fail"` keeps failing those pairs (test_llm_judges)."""

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli
from llmserver import LLMServer
from test_llm_judges import ENV, KEY, configure

from evalharness.judges import make_judge
from evalharness.models import Hit
from evalharness.project import Project
from evalharness.store import content_hash, judgment_cache_key


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


@pytest.mark.parametrize("mode", ["image", "caption"])
def test_unreadable_images_are_judged_on_text_and_say_so(project: Path, llm: LLMServer, demo_dir: Path, mode: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    configure(project, llm, "openai", mode=mode)
    good = demo_dir / "images" / "P00003.png"
    products = [{"id": "G1", "title": "Red Sneakers", "product_type": "sneakers", "image": str(good)},
                {"id": "M1", "title": "Red Sneakers missing", "product_type": "sneakers", "image": "img/missing.png"},
                {"id": "U1", "title": "Red Sneakers remote", "product_type": "sneakers", "image": f"{llm.url}/nope.png"}]
    (project / "tiny.jsonl").write_text("".join(json.dumps(p) + "\n" for p in products))
    (project / "engines" / "tiny.toml").write_text('backend = "tantivy"\n[tantivy]\ncatalog = "tiny.jsonl"\nfields = ["title"]\n')
    (project / "queries" / "one.csv").write_text("id,query,count,segment\nq1,red sneakers,1,head\n")
    result = run_cli(project, "run", "-e", "tiny", "-q", "queries/one.csv", "--judge", "openai:vision", "--json", env=ENV)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "finished" and data["counts"]["failed"] == 0 and data["counts"]["image_fallbacks"] == 2
    rows = sqlite3.connect(project / ".evalharness" / "cache.db").execute(
        "SELECT doc_id, cache_key, judge_id, details, content_hash, guideline_hash FROM judgments").fetchall()
    by_doc = {r[0]: r for r in rows}
    assert set(by_doc) == {"G1", "M1", "U1"}
    assert all(r[2] == data["judge_id"] for r in rows)  # scored in the run's judgment pool
    monkeypatch.setenv("EH_LLM_KEY", KEY)
    cfg = Project(project).config
    text_id = make_judge("openai:vision", cfg.model_copy(update={"judge": cfg.judge.model_copy(update={"mode": "text"})})).judge_id
    assert text_id != data["judge_id"]
    for doc in ("M1", "U1"):
        _, key, _, details, chash, ghash = by_doc[doc]
        assert json.loads(details)["image_fallback"] == "text"
        hit = next(h for h in _hits(project, data["run_id"]) if h.doc_id == doc)
        assert chash == content_hash(hit, "") and key == judgment_cache_key("red sneakers", chash, ghash, text_id)
    assert "image_fallback" not in (json.loads(by_doc["G1"][3] or "null") or {})  # the readable image was judged with it
    again = json.loads(run_cli(project, "run", "-e", "tiny", "-q", "queries/one.csv", "--judge", "openai:vision", "--json",
                               env=ENV).stdout)
    assert again["counts"]["judged_cached"] == 3 and again["counts"]["judged_new"] == 0


def _hits(project: Path, run_id: str) -> list[Hit]:
    from evalharness.store import Store

    store = Store(Project(project).store_url())
    try:
        return [h for q in store.run_queries(run_id) for h in q.hits]
    finally:
        store.close()
