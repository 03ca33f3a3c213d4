"""`images score` (offline and LLM scorers through the real SDKs) and `images agreement` through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_user_error, make_project, run_cli
from llmserver import LLMServer
from scipy.stats import pearsonr
from sklearn.metrics import cohen_kappa_score

KEY = "sk-test-IMG-55aa"
ENV = {"EH_LLM_KEY": KEY}


@pytest.fixture
def small(tmp_path: Path, demo_dir: Path) -> Path:
    """A project whose catalog holds six demo products; P1 has two images (the second one degraded)."""
    project = make_project(tmp_path / "proj", demo_dir, n_queries=3)
    products = [json.loads(line) for line in (demo_dir / "catalog.jsonl").read_text().splitlines()]
    clean = [p for p in products if p["degradation"] == "none"][:4]
    dark = next(p for p in products if p["degradation"] == "dark")
    tiny = next(p for p in products if p["degradation"] == "tiny")
    rows = []
    for i, p in enumerate(clean + [dark]):
        row = {"id": f"P{i}", "title": p["title"], "image": str(demo_dir / p["image"])}
        if i == 1:
            row["images"] = [str(demo_dir / tiny["image"])]
        rows.append(row)
    rows.append({"id": "BROKEN", "title": "unreadable", "image": "broken.png"})
    (project / "broken.png").write_bytes(b"\x89PNG but not really")
    (project / "small.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('catalog = "demo"', 'catalog = "small.jsonl"'))
    return project


def _json(result) -> list | dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_offline_score_lists_each_image_with_hero_and_failures(small: Path) -> None:
    rows = _json(run_cli(small, "images", "score", "--json"))  # default: the project's catalog ([guidelines] catalog)
    assert [(r["product_id"], r["score"] is None) for r in rows] == [
        ("P0", False), ("P1", False), ("P1", False), ("P2", False), ("P3", False), ("P4", False), ("BROKEN", True)]
    by = {(r["product_id"], r["image"].rsplit("/", 1)[-1]): r for r in rows}
    broken = next(r for r in rows if r["product_id"] == "BROKEN")
    assert "not a readable image" in broken["error"] and "aspects" not in broken
    p1 = [r for r in rows if r["product_id"] == "P1"]
    assert sorted(r["hero"] for r in p1) == [False, True] and max(p1, key=lambda r: r["score"])["hero"]
    assert all("hero" not in r for r in rows if r["product_id"] != "P1")
    dark = next(r for r in rows if r["product_id"] == "P4")
    assert dark["score"] <= 2 and "too dark" in dark["aspects"] and "well lit" not in dark["aspects"] and dark["rationale"]
    assert len(by) == 7
    text = run_cli(small, "images", "score", "--worst", "3")
    assert text.returncode == 0 and "hero image suggestions" in text.stdout and "0 new" in text.stdout


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_llm_scorer_sends_image_guided_prompt_and_schema_then_reuses_the_cache(small: Path, provider: str) -> None:
    server = LLMServer(api_key=KEY)
    try:
        base = f"{server.url}/v1" if provider == "openai" else server.url
        cfg = small / "evalharness.toml"
        cfg.write_text(cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_LLM_KEY"')
                       .replace('base_url = ""', f'base_url = "{base}"'))
        rows = _json(run_cli(small, "images", "score", "--scorer", f"{provider}:vision-test", "--json", env=ENV))
        scored = [r for r in rows if r["score"] is not None]
        assert len(scored) == 6 and all(1 <= r["score"] <= 5 and r["aspects"] == ["blurry"] for r in scored)
        assert all(r["rationale"].startswith("scripted") for r in scored)
        assert server.total_requests == 6  # six distinct images, one call each; the unreadable one is never sent
        body = server.recent()[0]["body"]
        dump = json.dumps(body)
        assert "Shoppers care about" in dump and "whole product visible" in dump  # the guided prompt
        if provider == "openai":
            assert body["response_format"]["json_schema"]["name"] == "image_quality"
            assert list(body["response_format"]["json_schema"]["schema"]["properties"]) == ["reasoning", "aspects", "score"]
            enum = body["response_format"]["json_schema"]["schema"]["properties"]["aspects"]["items"]["enum"]
            assert "blurry" in enum and "too dark" in enum and not {"sharp", "well lit"} & set(enum)  # findings only
            image = body["messages"][1]["content"][1]["image_url"]["url"]
            assert image.startswith("data:image/jpeg;base64,")
        else:
            assert set(body["generationConfig"]["responseSchema"]["properties"]) == {"reasoning", "aspects", "score"}
            assert any("inlineData" in part for c in body["contents"] for part in c["parts"])
        server.configure()
        again = _json(run_cli(small, "images", "score", "--scorer", f"{provider}:vision-test", "--json", env=ENV))
        assert server.total_requests == 0 and again == rows  # every score from the cache
        generic = _json(run_cli(small, "images", "score", "--scorer", f"{provider}:vision-test", "--prompt", "generic",
                                "--json", env=ENV))
        assert server.total_requests == 6 and len(generic) == 7  # another prompt is another scorer id
        assert "Shoppers care about" not in json.dumps(server.recent()[0]["body"])
    finally:
        server.close()


def test_agreement_equals_independent_computations(small: Path) -> None:
    offline = {r["image"]: r["score"] for r in _json(run_cli(small, "images", "score", "--json")) if r["score"]}
    first = {}
    for r in _json(run_cli(small, "images", "score", "--json")):
        first.setdefault(r["product_id"], r["image"])
    # three raters; P1 names its first image by product id, the tiny second image by path; one tie (P3: 4, 5)
    ratings = [("P0", 5, "a"), ("P0", 4, "b"), ("P0", 5, "c"), ("P1", 5, "a"), ("P1", 5, "b"),
               (first["P1"], 5, "c"), ("P2", 3, "a"), ("P2", 2, "b"), ("P2", 2, "c"),
               ("P3", 4, "a"), ("P3", 5, "b"), ("P4", 1, "a"), ("P4", 2, "b"), ("P4", 1, "c")]
    tiny = next(img for img in offline if img != first["P1"] and img not in first.values())
    ratings.append((tiny, 2, "a"))
    path = small / "people.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "score", "rater"])
        w.writerows(ratings)
    data = _json(run_cli(small, "images", "agreement", "--human", "people.csv", "--json"))
    majority = {first["P0"]: 5, first["P1"]: 5, first["P2"]: 2, first["P3"]: 4, first["P4"]: 1, tiny: 2}
    h = np.array([majority[k] for k in majority])
    m = np.array([offline[k] for k in majority])
    row = data["leaderboard"][0]
    assert data["images"] == 6 and data["ratings"] == 15 and data["raters"] == 3
    assert row["scorer"] == "offline" and row["n"] == 6
    assert row["percent_agreement"] == pytest.approx(float((h == m).mean()))
    assert row["weighted_kappa"] == pytest.approx(cohen_kappa_score(h, m, labels=[1, 2, 3, 4, 5], weights="quadratic"))
    assert row["pearson"] == pytest.approx(pearsonr(h, m).statistic)


def test_agreement_leaderboard_has_each_scorer_and_prompt(small: Path) -> None:
    server = LLMServer(api_key=KEY)
    try:
        cfg = small / "evalharness.toml"
        cfg.write_text(cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_LLM_KEY"')
                       .replace('base_url = ""', f'base_url = "{server.url}/v1"'))
        (small / "people.csv").write_text("image,score\nP0,5\nP1,5\nP2,4\nP3,5\nP4,1\n")
        data = _json(run_cli(small, "images", "agreement", "--human", "people.csv", "-s", "offline", "-s", "openai:vision-test",
                             "--json", env=ENV))
        board = [(r["scorer"], r["prompt"]) for r in data["leaderboard"]]
        assert sorted(board) == [("offline", "-"), ("openai:vision-test", "generic"), ("openai:vision-test", "guided")]
        kappas = [r["weighted_kappa"] for r in data["leaderboard"]]
        assert kappas == sorted(kappas, reverse=True)
    finally:
        server.close()


def test_bad_human_file_and_scorer_are_one_line_errors(small: Path) -> None:
    (small / "bad.csv").write_text("image,score\nP0,7\n")
    assert_user_error(run_cli(small, "images", "agreement", "--human", "bad.csv"), "bad.csv:2", "1 to 5")
    assert_user_error(run_cli(small, "images", "agreement", "--human", "nope.csv"), "--human")
    assert_user_error(run_cli(small, "images", "score", "--scorer", "magic"), "unknown image scorer")
    assert_user_error(run_cli(small, "images", "score", "--scorer", "openai:x"), "OPENAI_API_KEY")
