"""On the ESCI catalog: pairs people labelled are never sent to the judge, and a run they fully cover needs no key;
the offline guideline writer finishes on every ESCI-style query (a bare number that is a size phrase, "1/34 ...")."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_DATA, needs_shared_data, run_cli
from esci_project import make_esci_project
from llmserver import LLMServer
from test_llm_judges import ENV, KEY

pytestmark = needs_shared_data()


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _esci_with_judge(root: Path, server: LLMServer) -> Path:
    project = make_esci_project(root, n_queries=8)
    with (project / "evalharness.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'\n[judge]\nspec = "openai:m"\napi_key_env = "EH_LLM_KEY"\nbase_url = "{server.url}/v1"\n'
                 'timeout_s = 5.0\nmax_retries = 2\n')
    return project


def _hits(project: Path) -> list[tuple[str, str]]:
    """(query text, doc id) of every hit of the project's one stored run."""
    texts = {r["id"]: r["query"] for r in csv.DictReader((project / "queries" / "esci.csv").open(encoding="utf-8"))}
    db = sqlite3.connect(project / ".evalharness" / "cache.db")
    return [(texts[q], d) for q, d in db.execute("SELECT query_id, doc_id FROM run_results ORDER BY query_id, rank")]


def _import(project: Path, name: str, pairs: list[tuple[str, str]]) -> None:
    grades = {}
    with (SHARED_DATA / "esci" / "labels.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            grades[row["product_id"]] = row["label"]
    path = project / f"{name}.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "docid", "rating"])
        for q, d in pairs:
            w.writerow([q, d, grades.get(d, "I")])
    result = run_cli(project, "labels", "import", str(path), "--as", name, "--map", "esci")
    assert result.returncode == 0, result.stderr


def test_hits_people_labelled_are_never_sent_and_need_no_key(tmp_path: Path, llm: LLMServer) -> None:
    project = _esci_with_judge(tmp_path / "esci", llm)
    lists = run_cli(project, "run", "-e", "title", "--top-k", "5", "--judge", "offline")
    assert lists.returncode == 0, lists.stderr
    hits = _hits(project)
    assert len(hits) > 20
    _import(project, "esci", hits)
    _import(project, "half", hits[::2])

    full = run_cli(project, "run", "-e", "title", "--top-k", "5", "--labels", "human:esci", "--json", env={"EH_LLM_KEY": ""})
    assert full.returncode == 0, full.stderr
    data = json.loads(full.stdout)
    assert llm.total_requests == 0 and llm.state.lookups == 0  # nothing sent, no key asked for
    assert data["counts"]["labelled_by_source"] == data["counts"]["hits"] == len(hits)
    assert data["status"] == "finished" and data["labels"]["unlabelled_hits"] == 0

    half = run_cli(project, "run", "-e", "title", "--top-k", "5", "--labels", "human:half", "--json", env=ENV)
    assert half.returncode == 0, half.stderr
    counts = json.loads(half.stdout)["counts"]
    covered = len(hits[::2])
    assert counts["labelled_by_source"] == covered
    assert llm.total_requests == counts["judged_new"] == len(hits) - covered  # the uncovered pairs, counted by the server


def test_a_human_source_that_holds_no_labels_is_named(tmp_path: Path) -> None:
    project = make_esci_project(tmp_path / "esci", n_queries=3)
    result = run_cli(project, "run", "-e", "title", "--top-k", "3", "--judge", "offline", "--labels", "human:nosuch")
    assert result.returncode == 2 and "human:nosuch" in result.stderr and "holds no labels" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    db = project / ".evalharness" / "cache.db"
    assert not db.exists() or sqlite3.connect(db).execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_the_esci_holdout_query_gets_a_guideline(tmp_path: Path) -> None:
    """The query that hung the offline writer, on the ESCI catalog: a generous timeout trips only on a hang."""
    code = ("import sys, json; from pathlib import Path; from evalharness.catalog.products import iter_products; "
            "from evalharness.guidelines.offline import OfflineGuidelineWriter, Vocabulary; "
            "w = OfflineGuidelineWriter(Vocabulary.from_products(iter_products(Path(sys.argv[1])))); "
            "g = w.write('1/34 faucet drain without overflow solid brass'); "
            "print(json.dumps([r.attribute for r in g.requirements]))")
    result = subprocess.run([sys.executable, "-c", code, str(SHARED_DATA / "esci" / "products.jsonl")], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)  # some requirement read from the query
