"""`labels export --format finetune`: the demo's labels (people first, then a strong judge) as fine-tuning sets that
pass OpenAI's published chat-format checks, split by query, whose assistant turns the judge's own parser reads."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import assert_user_error, run_cli
from llmserver import LLMServer

KEY = "sk-finetune-test"
ENV = {"EH_FT_KEY": KEY}
QUERY = re.compile(r"Search query: (\".*?\")\n")
TITLE = re.compile(r'"title":\s*(".*?(?<!\\)")')
TOKEN_LIMIT = 65_536  # OpenAI's per-example limit for gpt-4o-mini / gpt-4o fine-tuning (the recipe's 16,385 for older models)


def openai_format_errors(dataset: list) -> Counter:
    """The checks of OpenAI's cookbook recipe "Data preparation and analysis for chat model fine-tuning", as it states
    them: each example a dict with a `messages` list; each message has `role` and `content` and no other keys than
    role, content, name, function_call, weight; roles among system, user, assistant, function; content a non-empty
    string (or function_call); at least one assistant message. Added from the fine-tuning guide: system, then user,
    then exactly one assistant turn, last."""
    errors: Counter = Counter()
    for ex in dataset:
        if not isinstance(ex, dict):
            errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            errors["example_missing_assistant_message"] += 1
        if [m.get("role") for m in messages] != ["system", "user", "assistant"]:
            errors["message_order"] += 1
    return errors


def num_tokens_upper_bound(messages: list[dict]) -> int:
    """The recipe's num_tokens_from_messages (3 tokens per message, 1 per name, 3 priming the reply) with each value's
    UTF-8 byte count in place of its cl100k_base token count: tiktoken is not installed here, and a byte-level BPE token
    is at least one byte, so this bounds the recipe's count from above."""
    tokens = 3
    for message in messages:
        tokens += 3
        for key, value in message.items():
            tokens += len(str(value).encode("utf-8"))
            if key == "name":
                tokens += 1
    return tokens


@pytest.fixture
def labelled(project: Path):
    """The demo project judged by a strong model on the test server, with people's labels for two queries."""
    server = LLMServer(api_key=KEY)
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('api_key_env = ""', 'api_key_env = "EH_FT_KEY"').replace('base_url = ""', f'base_url = "{server.url}/v1"'))
    lines = (project / "queries" / "demo.csv").read_text().splitlines()
    (project / "queries" / "demo.csv").write_text("\n".join(lines[:13]) + "\n")
    run = run_cli(project, "run", "-e", "v2", "--top-k", "6", "--judge", "openai:strong-m", "--json", env=ENV)
    assert run.returncode == 0, run.stderr
    exported = run_cli(project, "runs", "export", json.loads(run.stdout)["run_id"], "--format", "jsonl")
    hits = [(q["query"], h["doc_id"], h["title"]) for q in map(json.loads, exported.stdout.splitlines()) for h in q["hits"]]
    people = {(q, t): "substitute" for q, _, t in hits if q in sorted({x[0] for x in hits})[:2]}  # people say substitute
    with (project / "gold.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "doc_id", "label"])
        w.writerows((q, doc, people[(q, t)]) for q, doc, t in hits if (q, t) in people)
    assert run_cli(project, "labels", "import", "gold.csv", "--as", "gold").returncode == 0
    yield project, hits, people
    server.close()


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_openai_finetune_export_passes_the_format_checks(labelled) -> None:
    from evalharness.guidelines.files import guideline_path, parse_guideline
    from evalharness.judges import make_judge
    from evalharness.judges.answer import parse_answer
    from evalharness.project import Project

    project, hits, people = labelled
    r = run_cli(project, "labels", "export", "--source", "human:gold,openai:strong-m", "--format", "finetune",
                "--judge", "openai:cheap-m", "--validation", "0.25", "-o", "ft", env=ENV)
    assert r.returncode == 0, r.stderr
    train, val = _read(project / "ft" / "train.jsonl"), _read(project / "ft" / "validation.jsonl")
    manifest = json.loads((project / "ft" / "manifest.json").read_text())
    assert len(train) + len(val) == len(hits) and val
    assert openai_format_errors(train + val) == Counter()
    assert max(num_tokens_upper_bound(ex["messages"]) for ex in train + val) < TOKEN_LIMIT
    queries = {name: {json.loads(QUERY.search(ex["messages"][1]["content"]).group(1)) for ex in split}
               for name, split in (("train", train), ("validation", val))}
    assert queries["train"] and queries["validation"] and not queries["train"] & queries["validation"]
    judge = make_judge("openai:cheap-m", Project(project).config, need_key=False)
    assert manifest["judge_id"] == judge.judge_id and f":p{manifest['prompt_template_hash']}:" in judge.judge_id
    by_source = Counter()
    printed = {name: Counter() for name in ("train", "validation")}
    for name, split in (("train", train), ("validation", val)):
        for ex in split:
            system, user, assistant = (m["content"] for m in ex["messages"])
            assert system == judge.system_prompt
            query = json.loads(QUERY.search(user).group(1))
            title = json.loads(TITLE.findall(user)[-1])
            guideline = parse_guideline(guideline_path(project / "guidelines", query))
            answer = parse_answer(assistant, judge.scheme, judge.reasoning, guideline.requirements)
            # read exactly as the judge's schema asks: nothing read leniently, one verdict per requirement
            assert answer.notes == [] and all(v["verdict"] is not None for v in answer.verdicts), answer
            label = answer.label
            printed[name][label] += 1
            if (query, title) in people:
                assert label == people[(query, title)]
                by_source["human"] += 1
    assert by_source["human"] == len(people) == manifest["sources"]["human:gold"]
    for name in ("train", "validation"):
        assert manifest[name]["labels"] == dict(printed[name])
        shown = ", ".join(f"{k} {v} ({v / sum(printed[name].values()):.0%})" for k, v in sorted(printed[name].items()))
        assert f"{name}: {sum(printed[name].values())} examples" in r.stdout and shown in r.stdout


def test_rebalance_and_the_other_chat_formats(labelled) -> None:
    project, hits, _ = labelled
    r = run_cli(project, "labels", "export", "--source", "human:gold,openai:strong-m", "--format", "finetune",
                "--judge", "openai:cheap-m", "--rebalance", "--chat", "hf", "-o", "hf", env=ENV)
    assert r.returncode == 0, r.stderr
    train = _read(project / "hf" / "train.jsonl")
    counts = Counter(json.loads(ex["messages"][2]["content"])["label"] for ex in train)
    assert len(set(counts.values())) == 1 and len(counts) > 1  # every label downsampled to the rarest
    assert "train before --rebalance" in r.stdout
    g = run_cli(project, "labels", "export", "--source", "openai:strong-m", "--format", "finetune", "--judge", "openai:cheap-m",
                "--chat", "gemini", "-o", "gem", env=ENV)
    assert g.returncode == 0, g.stderr
    lines = _read(project / "gem" / "train.jsonl") + _read(project / "gem" / "validation.jsonl")
    assert len(lines) == len(hits)
    for line in lines:
        assert set(line) == {"systemInstruction", "contents"}
        assert [c["role"] for c in line["contents"]] == ["user", "model"]
        assert json.loads(line["contents"][1]["parts"][0]["text"])["label"] in ("irrelevant", "substitute", "relevant")
    seen = defaultdict(set)
    for line in lines:
        seen["q"].add(json.loads(QUERY.search(line["contents"][0]["parts"][0]["text"]).group(1)))
    assert len(seen["q"]) == 12
    assert_user_error(run_cli(project, "labels", "export", "--source", "openai:strong-m", "--format", "finetune",
                              "--judge", "openai:cheap-m", env=ENV), "-o DIR")
    assert_user_error(run_cli(project, "labels", "export", "--source", "openai:strong-m", "--format", "finetune",
                              "--judge", "offline", "-o", "x", env=ENV), "LLM judge")
