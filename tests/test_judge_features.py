"""Issue 11 acceptance: label schemes end to end, project prompts, reasoning first, vote ensembles, dry-run prices.
Every provider call goes through the real SDKs against the local wire-format server."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import assert_user_error, run_cli
from llmserver import Faults, LLMServer
from test_llm_judges import ENV, KEY, configure

ESCI_COLOURS = ("#1e8e3e", "#f29900", "#4285f4", "#d93025")


@pytest.fixture
def llm():
    server = LLMServer(api_key=KEY)
    yield server
    server.close()


def _run(project: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    result = run_cli(project, "run", "--top-k", "3", "--json", *args, env=env or ENV)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _judgment_bodies(llm: LLMServer) -> list[dict]:
    return [r["body"] for r in llm.recent() if "product_data" in json.dumps(r["body"])]


def test_switching_to_esci_rejudges_with_four_labels_and_back_costs_nothing(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=6)
    three = _run(project, "-e", "v2", "--judge", "openai:m")
    hits = three["counts"]["hits"]
    assert llm.total_requests == hits
    cfg = project / "evalharness.toml"
    plain = cfg.read_text()
    cfg.write_text(plain + '\n[labels]\nscheme = "esci"\ngains = {exact = 2, substitute = 1, complement = 0}\n')
    llm.configure()
    esci = _run(project, "-e", "v2", "--judge", "openai:m")
    assert esci["counts"]["judged_new"] == hits and llm.total_requests == hits  # the scheme is in the judge id: re-judged
    enum = _judgment_bodies(llm)[0]["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"]
    assert enum == ["exact", "substitute", "complement", "irrelevant"]
    labels = {r[0] for r in sqlite3.connect(project / ".evalharness" / "cache.db").execute(
        "SELECT label FROM judgments WHERE judge_id = ?", (esci["judge_id"],))}
    assert labels <= {"exact", "substitute", "complement", "irrelevant"} and labels & {"exact", "substitute"}
    # the scripted server maps relevant -> exact, so with gains exact 2 / substitute 1 every metric equals three-level's
    assert esci["metrics"] == pytest.approx(three["metrics"])
    cfg.write_text(plain + '\n[labels]\nscheme = "esci"\ngains = {exact = 100, substitute = 10, complement = 1}\n')
    llm.configure()
    regained = _run(project, "-e", "v2", "--judge", "openai:m")
    assert llm.total_requests == 0 and regained["judge_id"] == esci["judge_id"]  # gains change scores, not answers
    assert regained["metrics"]["P(rel=2)@10"] >= esci["metrics"]["P(rel=2)@10"]  # rel=2 now counts substitutes too
    assert regained["metrics"]["P(rel=2)@10"] == pytest.approx(three["metrics"]["P(rel=1)@10"])
    _run(project, "-e", "v1", "--judge", "openai:m")
    report = run_cli(project, "compare", "v1", "v2", "--judge", "openai:m", "--html", "reports/esci.html", env=ENV)
    assert report.returncode in (0, 1), report.stderr
    html = (project / "reports" / "esci.html").read_text()
    chart = html[html.index('aria-label="label distribution"'):]
    chart = chart[:chart.index("</svg>")]
    for colour, name in zip(ESCI_COLOURS, ("exact", "substitute", "complement", "irrelevant")):
        assert f'fill="{colour}"' in chart and f">{name}<" in chart  # the legend shows the four labels in their colours
    cfg.write_text(plain)
    llm.configure()
    back = _run(project, "-e", "v2", "--judge", "openai:m")
    assert llm.total_requests == 0 and back["counts"]["judged_cached"] == hits and back["metrics"] == three["metrics"]


def test_project_prompts_rejudge_once_after_an_edit(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=4)
    first = _run(project, "-e", "v2", "--judge", "openai:m")
    hits = first["counts"]["hits"]
    init = run_cli(project, "prompts", "init")
    assert init.returncode == 0 and "wrote 6 template(s)" in init.stdout
    assert sorted(p.name for p in (project / "prompts").iterdir()) == sorted(
        ["judge_system.j2", "judge_user.j2", "repair.j2", "caption.j2", "guideline_system.j2", "guideline_user.j2"])
    llm.configure()
    assert _run(project, "-e", "v2", "--judge", "openai:m")["judge_id"] == first["judge_id"] and llm.total_requests == 0
    template = project / "prompts" / "judge_user.j2"
    template.write_text(template.read_text().replace("Label this product for the query.",
                                                     "Label this product for the query. Colour matters most here."))
    llm.configure()
    edited = _run(project, "-e", "v2", "--judge", "openai:m")
    assert edited["counts"]["judged_new"] == hits and llm.total_requests == hits and edited["judge_id"] != first["judge_id"]
    assert all("Colour matters most here." in b["messages"][1]["content"] for b in _judgment_bodies(llm))
    llm.configure()
    assert _run(project, "-e", "v2", "--judge", "openai:m")["counts"]["judged_new"] == 0 and llm.total_requests == 0
    listing = run_cli(project, "prompts", "list")
    assert listing.returncode == 0 and "judge_user.j2" in listing.stdout
    template.write_text(template.read_text() + "\n{{ shopper_mood }}\n")
    llm.configure()
    broken = run_cli(project, "run", "-e", "v2", "--judge", "openai:m", env=ENV)
    assert_user_error(broken, "judge_user.j2", "shopper_mood")
    assert llm.total_requests == 0  # the template failed before any call


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_default_schema_asks_for_the_rationale_first(project: Path, llm: LLMServer, provider: str) -> None:
    configure(project, llm, provider, queries=1)
    _run(project, "-e", "v2", "--top-k", "1", "--judge", f"{provider}:m")
    body = _judgment_bodies(llm)[0]
    if provider == "openai":
        schema = body["response_format"]["json_schema"]["schema"]
        order = list(schema["properties"])
    elif provider == "gemini":
        rs = body["generationConfig"]["responseSchema"]
        order = rs.get("propertyOrdering") or rs["property_ordering"]  # the SDK writes the proto field name
    else:
        assert body["tool_choice"] == {"type": "tool", "name": "judgment"}
        order = list(body["tools"][0]["input_schema"]["properties"])
    assert order == ["rationale", "requirement_verdicts", "label"]  # reasoning and verdicts before the label
    system = json.dumps(body)
    assert "the product type" in system and '\\"must\\"' in system  # the guided criteria are spelled out
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('mode = "text"', 'mode = "text"\nreasoning = "none"'))
    llm.configure()
    none = _run(project, "-e", "v2", "--top-k", "1", "--judge", f"{provider}:m")
    assert none["counts"]["judged_new"] == 1 and ":rn" in none["judge_id"]


def _vote_env(llm: LLMServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": KEY, "GEMINI_API_KEY": KEY, "ANTHROPIC_API_KEY": KEY, "OPENAI_BASE_URL": f"{llm.url}/v1",
            "GOOGLE_GEMINI_BASE_URL": llm.url, "ANTHROPIC_BASE_URL": llm.url}


def test_vote_ensemble_stores_members_takes_majority_and_adds_members_cheaply(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=3)
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('api_key_env = "EH_LLM_KEY"', 'api_key_env = ""')
                   .replace(f'base_url = "{llm.url}/v1"', 'base_url = ""'))
    env = _vote_env(llm)
    spec = "vote(openai:fixed-relevant, gemini:fixed-relevant, anthropic:fixed-irrelevant)"
    data = _run(project, "-e", "v2", "--judge", spec, env=env)
    hits = data["counts"]["hits"]
    assert data["counts"]["failed"] == 0 and llm.total_requests == 3 * hits
    assert data["judge_id"].startswith(spec.removesuffix(")"))
    con = sqlite3.connect(project / ".evalharness" / "cache.db")
    rows = con.execute("SELECT label, details FROM judgments WHERE judge_id = ?", (data["judge_id"],)).fetchall()
    assert len(rows) == hits and {r[0] for r in rows} == {"relevant"}
    details = json.loads(rows[0][1])
    assert [v["label"] for v in details["votes"]] == ["relevant", "relevant", "irrelevant"]
    assert details["confidence"] == pytest.approx(2 / 3, abs=1e-3)
    members = con.execute("SELECT count(*) FROM judgments WHERE judge_id LIKE 'anthropic:fixed-irrelevant:%'").fetchone()[0]
    assert members == hits  # each member's judgment is cached on its own
    low = run_cli(project, "disagreements", "v2", "--csv", "review.csv", "--json", env=env)
    assert low.returncode == 0, low.stderr
    listed = json.loads(low.stdout)["disagreements"]
    assert len(listed) == hits and all(r["confidence"] == pytest.approx(2 / 3, abs=1e-3) for r in listed)
    assert "anthropic:fixed-irrelevant=irrelevant" in (project / "review.csv").read_text()
    llm.configure()
    again = _run(project, "-e", "v2", "--judge", spec, env=env)
    assert again["counts"]["judged_new"] == 0 and llm.total_requests == 0
    # a fourth member: requests for that member only; two against two is a tie, broken by the named member
    wider = "vote(openai:fixed-relevant, gemini:fixed-relevant, anthropic:fixed-irrelevant, openai:fixed-substitute, tie=anthropic:fixed-irrelevant)"
    llm.configure()
    four = _run(project, "-e", "v2", "--judge", wider, env=env)
    assert llm.total_requests == hits and four["counts"]["judged_new"] == hits
    assert {b["model"] for b in _judgment_bodies(llm)} == {"fixed-substitute"}
    labels = {r[0] for r in con.execute("SELECT label FROM judgments WHERE judge_id = ?", (four["judge_id"],))}
    assert labels == {"relevant"}  # 2 relevant, 1 irrelevant, 1 substitute: still a majority


def test_majority_tie_rules() -> None:
    from evalharness.judges.vote import majority
    from evalharness.labels.schemes import scheme_named

    three = scheme_named("three-level")
    votes = [("a", "relevant"), ("b", "irrelevant")]
    assert majority(votes, three, "lowest") == ("irrelevant", 0.5, True)
    assert majority(votes, three, "highest") == ("relevant", 0.5, True)
    assert majority(votes, three, "a") == ("relevant", 0.5, True)
    assert majority([("a", "substitute"), ("b", "substitute"), ("c", "relevant")], three, "lowest") == ("substitute", 2 / 3, False)


def test_self_consistency_samples_are_cached_one_by_one(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "openai", queries=2)
    assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "vote(openai:m, n=3)", env=ENV), "temperature above 0")
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace("temperature = 0.0", "temperature = 0.7"))
    data = _run(project, "-e", "v2", "--judge", "vote(openai:m, n=3)")
    assert llm.total_requests == 3 * data["counts"]["hits"] and data["counts"]["failed"] == 0
    assert {b["temperature"] for b in _judgment_bodies(llm)} == {0.7}
    samples = {r[0].rsplit(":", 1)[1] for r in sqlite3.connect(project / ".evalharness" / "cache.db").execute(
        "SELECT DISTINCT judge_id FROM judgments WHERE judge_id LIKE 'openai:m:%'")}
    assert samples == {"s1", "s2", "s3"}
    assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "vote(offline, n=3)", env=ENV), "self-consistency")
    assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "vote(openai:m, gemini:m, tie=nobody)", env=ENV), "tie rule")


def test_dry_run_prices_gpt_4o_mini_without_a_key(project: Path) -> None:
    result = run_cli(project, "run", "-e", "v2", "--dry-run", "--judge", "openai:gpt-4o-mini", env={"OPENAI_API_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert "judge calls" in result.stdout and "tokens" in result.stdout
    as_json = run_cli(project, "run", "-e", "v2", "--dry-run", "--judge", "openai:gpt-4o-mini", "--json", env={"OPENAI_API_KEY": ""})
    est = json.loads(as_json.stdout)[0]
    assert est["calls"] > 0 and est["input_tokens"] > 0 and est["cost_usd"] > 0
    from evalharness.llm.prices import BUILTIN_PRICES

    p = BUILTIN_PRICES["gpt-4o-mini"]
    assert est["cost_usd"] == pytest.approx((est["input_tokens"] * p.input + est["output_tokens"] * p.output) / 1e6)
    # the real run still needs the key, and says which variable
    assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "openai:gpt-4o-mini", env={"OPENAI_API_KEY": ""}), "OPENAI_API_KEY")


def test_prices_table_and_overrides() -> None:
    from evalharness.config import ProjectConfig
    from evalharness.llm.prices import PRICES_CHECKED, price_of

    assert PRICES_CHECKED[:4].isdigit()
    cfg = ProjectConfig.model_validate({"prices": {"gpt-4o-mini": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}})
    assert price_of("gpt-4o-mini", cfg).input == 1.0 and price_of("gpt-4o-mini", ProjectConfig()).input == 0.15
    assert price_of("claude-haiku-4-5-20251001", ProjectConfig()).output == 5.0  # dated snapshot names
    assert price_of("my-local-llama", ProjectConfig()) is None
    haiku = price_of("claude-haiku-4-5", ProjectConfig())
    assert haiku.cost(1_000_000, 0, cached_tokens=500_000) == pytest.approx(0.5 + 0.05)  # cached input at its price


@pytest.mark.parametrize("provider", ["openai", "gemini", "anthropic"])
def test_429_carries_retry_after_and_is_retried(project: Path, llm: LLMServer, provider: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from evalharness.config import JudgeConfig
    from evalharness.llm.providers import RetryableError, make_provider

    base = f"{llm.url}/v1" if provider == "openai" else llm.url
    monkeypatch.setenv("EH_LLM_KEY", KEY)  # not os.environ: a leaked key would satisfy later missing-key tests
    p = make_provider(provider, "m", JudgeConfig(api_key_env="EH_LLM_KEY", base_url=base, timeout_s=5))
    llm.configure(faults=Faults(sequence=["429"], retry_after="7"))

    async def once() -> None:
        try:
            await p.complete("sys", "hello")
        finally:
            await p.aclose()

    with pytest.raises(RetryableError) as err:
        asyncio.run(once())
    assert err.value.retry_after == 7.0
    configure(project, llm, provider, queries=1)
    llm.configure(faults=Faults(sequence=["429", "500"], retry_after="0"))
    data = _run(project, "-e", "v2", "--top-k", "1", "--judge", f"{provider}:m")
    assert data["counts"]["judged_new"] == 1 and llm.total_requests == 3  # 429, 500, then the answer


def test_anthropic_key_is_named_when_missing_and_never_leaks(project: Path, llm: LLMServer) -> None:
    configure(project, llm, "anthropic", queries=2)
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('api_key_env = "EH_LLM_KEY"', 'api_key_env = ""'))
    assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "anthropic:m", env={"ANTHROPIC_API_KEY": ""}),
                      "ANTHROPIC_API_KEY")
    wrong = run_cli(project, "run", "-e", "v2", "--judge", "anthropic:m", env={"ANTHROPIC_API_KEY": "sk-ant-wrong-123456"})
    assert_user_error(wrong, "Anthropic rejected the API key")
    assert "sk-ant-wrong-123456" not in wrong.stdout + wrong.stderr
    ok = run_cli(project, "run", "-e", "v2", "--top-k", "2", "--judge", "anthropic:m", env={"ANTHROPIC_API_KEY": KEY})
    assert ok.returncode == 0, ok.stderr
    assert KEY not in ok.stdout + ok.stderr
    assert KEY.encode() not in (project / ".evalharness" / "cache.db").read_bytes()
    writer = cfg.read_text().replace('writer = "offline"', 'writer = "anthropic:writer-model"')
    cfg.write_text(writer)
    (project / "queries" / "one.csv").write_text("id,query,count,segment\nw1,blue kettle,1,head\n")
    wrote = run_cli(project, "run", "-e", "v2", "-q", "queries/one.csv", "--top-k", "1", "--judge", "offline",
                    env={"ANTHROPIC_API_KEY": KEY})
    assert wrote.returncode == 0, wrote.stderr
    text = next((project / "guidelines").glob("blue*kettle*.md")).read_text()
    assert "model: writer-model" in text and "writer: anthropic:p" in text  # the anthropic guideline writer


def test_few_shot_examples_pick_per_label_and_same_type_first(project: Path, llm: LLMServer, demo_dir: Path) -> None:
    first_product = json.loads((demo_dir / "catalog.jsonl").read_text().splitlines()[0])
    rows = [
        {"query": "red lamp", "product": {"title": "Red Ceramic Lamp", "product_type": "lamp"}, "label": "relevant", "rationale": "a red lamp"},
        {"query": "red lamp", "product": {"title": "Red Sofa", "product_type": "sofa"}, "label": "irrelevant", "rationale": "a sofa"},
        {"query": "blue lamp", "product": {"title": "Green Lamp", "product_type": "lamp"}, "label": "substitute", "rationale": "colour"},
        {"query": "kettle", "product": {"title": "Steel Kettle", "product_type": "kettle"}, "label": "relevant", "rationale": "a kettle"},
    ]
    rows.append({"query": "anything", "doc_id": first_product["id"], "label": "irrelevant", "rationale": "from the catalog"})
    (project / "labels").mkdir()
    (project / "labels" / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    configure(project, llm, "openai", queries=3, extra="")
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('mode = "text"', 'mode = "text"\nexamples = "labels/examples.jsonl"\nexamples_per_label = 1'))
    (project / "queries" / "lamp.csv").write_text("id,query,count,segment\nl1,lamp,1,head\n")
    data = _run(project, "-e", "v2", "-q", "queries/lamp.csv", "--top-k", "2", "--judge", "openai:m")
    assert ":x" in data["judge_id"] and data["counts"]["failed"] == 0
    for body in _judgment_bodies(llm):
        user = body["messages"][1]["content"]
        assert user.count("<examples>") == 1
        shown = json.loads(user.split("<examples>")[1].split("</examples>")[0])
        assert sorted(e["label"] for e in shown) == ["irrelevant", "relevant", "substitute"]  # one per label
        relevant = next(e for e in shown if e["label"] == "relevant")
        assert relevant["product"]["title"] == "Red Ceramic Lamp"  # a lamp hit: the lamp example before the kettle
    from evalharness.config import load_project_config
    from evalharness.judges.examples import load_examples
    from evalharness.labels.schemes import scheme_of

    loaded = load_examples(load_project_config(project), scheme_of(load_project_config(project)))
    assert loaded is not None and loaded.examples[-1].product["title"] == first_product["title"]  # doc_id read from the catalog
    (project / "labels" / "examples.jsonl").write_text(json.dumps({**rows[0], "label": "great"}) + "\n")
    assert_user_error(run_cli(project, "run", "-e", "v2", "--judge", "openai:m", env=ENV), "examples.jsonl:1", "three-level")


def test_vote_from_config_and_its_id_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalharness.compare.runs import judge_spec_of
    from evalharness.config import ProjectConfig
    from evalharness.judges import make_judge

    cfg = ProjectConfig.model_validate({"judge": {"spec": "vote", "ensemble": ["openai:a", "gemini:b", "anthropic:c"],
                                                  "tie": "highest"}})
    judge = make_judge("vote", cfg, need_key=False)  # no key needed to name or estimate it (--dry-run)
    assert judge.judge_id.startswith("vote(openai:a, gemini:b, anthropic:c, tie=highest)#")
    assert judge_spec_of(judge.judge_id) == "vote(openai:a, gemini:b, anthropic:c, tie=highest)"
    assert make_judge(judge_spec_of(judge.judge_id), cfg, need_key=False).judge_id == judge.judge_id
    priced = make_judge("vote(openai:gpt-4o-mini, anthropic:claude-haiku-4-5)", cfg, need_key=False)
    assert priced.price_per_mtok() == pytest.approx(((0.15 + 1.0) / 2, (0.60 + 5.0) / 2))  # x summed member tokens
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(Exception, match="OPENAI_API_KEY"):
        make_judge("vote", cfg)
