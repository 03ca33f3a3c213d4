"""The cascade simulation: a cheap scripted judge whose errors sit mostly at low confidence and a strong one that is
always right. `agreement --choose-threshold` picks the cheapest threshold on a gold set; the cascade at that
threshold, run on other queries, reaches the target agreement with the human labels while sending a minority of
pairs to the strong model (requests counted by the server), and its --dry-run estimate is within 10 % of what it paid."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from conftest import assert_user_error, make_project, run_cli
from llmserver import LLMServer, script_answers, script_labels, script_logprobs
from sklearn.metrics import cohen_kappa_score

KEY = "sk-cascade-test"
ENV = {"EH_CASCADE_KEY": KEY}
ORDER = ["irrelevant", "substitute", "relevant"]
# Per 20 pairs of each query set, in order: what the cheap model answers and with what confidence.
PATTERN = ([("wrong", 0.6)] * 4 + [("wrong", 0.8)] + [("wrong", 0.95)] + [("right", 0.6)] + [("right", 0.8)] * 2
           + [("right", 0.95)] * 11)
TARGET = 0.85


def _pairs(project: Path, queries: str) -> list[tuple[str, str, str]]:
    """(query, doc_id, title) of an offline run's hits on this query set."""
    r = run_cli(project, "run", "-e", "v2", "-q", queries, "--top-k", "10", "--judge", "offline", "--json")
    assert r.returncode == 0, r.stderr
    exported = run_cli(project, "runs", "export", json.loads(r.stdout)["run_id"], "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    return [(q["query"], h["doc_id"], h["title"]) for q in map(json.loads, exported.stdout.splitlines()) for h in q["hits"]]


def _script(pairs: list[tuple[str, str, str]], truth: dict[tuple[str, str], str]) -> tuple[dict, dict]:
    answers, probs = {}, {}
    for i, (q, _, title) in enumerate(pairs):
        kind, p = PATTERN[i % len(PATTERN)]
        right = truth[(q, title)]
        label = right if kind == "right" else ORDER[(ORDER.index(right) + 1) % 3]
        answers[("cheap-m", q, title)] = label
        others = [n for n in ORDER if n != label]
        probs[("cheap-m", q, title)] = {label: p, others[0]: (1 - p) * 0.7, others[1]: (1 - p) * 0.3}
    return answers, probs


def _write_labels(path: Path, pairs: list[tuple[str, str, str]], truth: dict[tuple[str, str], str]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "doc_id", "label"])
        w.writerows((q, doc, truth[(q, title)]) for q, doc, title in pairs)


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    script_labels({}, {})
    script_answers({})
    script_logprobs({})
    server.close()


def test_cascade_reaches_the_target_with_a_minority_escalated_and_the_dry_run_estimates_it(tmp_path: Path, demo_dir: Path,
                                                                                          llm: LLMServer) -> None:
    project = make_project(tmp_path / "proj", demo_dir, n_queries=40)
    rows = list(csv.reader((project / "queries" / "demo.csv").open()))
    for name, part in (("gold", rows[1:21]), ("new", rows[21:41])):
        with (project / "queries" / f"{name}.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows([rows[0], *part])
    gold_pairs, new_pairs = _pairs(project, "queries/gold.csv"), _pairs(project, "queries/new.csv")
    assert len(gold_pairs) >= 150 and len(new_pairs) >= 150
    # the people's labels: spread over the three labels by a hash of the pair (the demo's own rule leaves most pairs irrelevant)
    truth = {(q, title): ORDER[int(hashlib.sha256(f"{q}|{title}".encode()).hexdigest()[:8], 16) % 3] for q, _, title in gold_pairs + new_pairs}
    script_labels(truth, {"strong-m": 1.0})  # the strong model is always right
    answers, probs = {}, {}
    for pairs in (gold_pairs, new_pairs):
        a, p = _script(pairs, truth)
        answers.update(a)
        probs.update(p)
    script_answers(answers)
    script_logprobs(probs, tail=1.0)
    _write_labels(project / "gold.csv", gold_pairs, truth)
    assert run_cli(project, "labels", "import", "gold.csv", "--as", "gold").returncode == 0
    cfg = project / "evalharness.toml"
    text = cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_CASCADE_KEY"').replace('base_url = ""', f'base_url = "{llm.url}/v1"')
    cfg.write_text(text + '\n[prices."cheap-m"]\ninput_per_mtok = 0.5\noutput_per_mtok = 0.5\n'
                   '\n[prices."strong-m"]\ninput_per_mtok = 5.0\noutput_per_mtok = 5.0\n')

    # 1. The threshold, chosen on the gold set (both members label every gold pair once).
    spec = "cascade(openai:cheap-m, openai:strong-m)"
    chosen = run_cli(project, "agreement", "--human", "gold", "-e", "v2", "--judge", spec, "--choose-threshold",
                     "--target-kappa", str(TARGET), "--json", "--bootstrap", "300", env=ENV)
    assert chosen.returncode == 0, chosen.stderr
    result = json.loads(chosen.stdout)
    choice = result["threshold"]
    cheap = result["judges"][0]
    assert cheap["calibration"]["pairs"] == cheap["pairs"] == len(gold_pairs)
    assert cheap["calibration"]["ece"] >= 0 and cheap["calibration"]["bins"]
    assert choice["threshold"] is not None and choice["value"] >= TARGET and choice["ci95"][0] <= choice["value"] <= choice["ci95"][1]
    assert 0 < choice["escalated_share"] < 0.5
    curve = {round(c["threshold"], 3): c for c in choice["curve"]}
    assert curve[0.0]["kappa_quadratic"] < TARGET  # the cheap judge alone misses the target
    assert llm.state.requests["openai"] == 2 * len(gold_pairs)
    threshold = choice["threshold"]

    # 2. The dry run on new queries, from the stored calibration.
    run_spec = f"cascade(openai:cheap-m, openai:strong-m, min_confidence={threshold:.6g})"
    dry = run_cli(project, "run", "-e", "v2", "-q", "queries/new.csv", "--top-k", "10", "--judge", run_spec, "--dry-run",
                  "--json", env=ENV)
    assert dry.returncode == 0, dry.stderr
    estimate = json.loads(dry.stdout)[0]
    assert "calibration on human:gold" in estimate["note"]
    llm.configure()

    # 3. The run: every pair to the cheap model, only the unsure ones to the strong one.
    run = run_cli(project, "run", "-e", "v2", "-q", "queries/new.csv", "--top-k", "10", "--judge", run_spec, "--json", env=ENV)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    summary = data["cascade"]
    strong_requests = sum(1 for r in llm.recent() if r["body"]["model"] == "strong-m")
    cheap_requests = sum(1 for r in llm.recent() if r["body"]["model"] == "cheap-m")
    assert cheap_requests == summary["pairs"] == len(new_pairs)
    assert strong_requests == summary["escalated"] < len(new_pairs) / 2
    assert summary["saving_usd"] > 0 and summary["cost_usd"] == pytest.approx(data["cost_usd"], abs=1e-6)
    print("FIGURES", json.dumps({"choice": {k: v for k, v in choice.items() if k != "curve"}, "estimate": estimate["cost_usd"],
                                 "paid": data["cost_usd"], "summary": summary}))
    assert abs(estimate["cost_usd"] - data["cost_usd"]) <= 0.10 * data["cost_usd"], (estimate, data["cost_usd"])

    # 4. Agreement of the cascade's labels with the human labels of the new queries (computed here with sklearn).
    exported = run_cli(project, "labels", "export", "--source", run_spec, "--format", "jsonl", env=ENV)
    assert exported.returncode == 0, exported.stderr
    got = {(x["query"], x["doc_id"]): x["label"] for x in map(json.loads, exported.stdout.splitlines())}
    want = {(q, doc): truth[(q, title)] for q, doc, title in new_pairs}
    keys = sorted(want)
    kappa = cohen_kappa_score([ORDER.index(want[k]) for k in keys], [ORDER.index(got[k]) for k in keys], weights="quadratic",
                              labels=[0, 1, 2])
    print("FIGURES kappa on the new queries", kappa)
    assert kappa >= TARGET


def test_cascade_spec_errors(project: Path) -> None:
    assert_user_error(run_cli(project, "run", "-e", "v2", "--dry-run", "--judge", "cascade(openai:a)"), "exactly two members")
    assert_user_error(run_cli(project, "run", "-e", "v2", "--dry-run", "--judge", "cascade(anthropic:a, openai:b)"),
                      "gives no confidence")
    assert_user_error(run_cli(project, "run", "-e", "v2", "--dry-run", "--judge", "cascade(openai:a, openai:b, min_confidence=2)"),
                      "between 0 and 1")
