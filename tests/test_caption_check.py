"""Caption check (CASLIE): members vote on each caption; a rejected caption is dropped and the pair judged on text only."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import run_cli
from llmserver import LLMServer

KEY = "sk-test-CAP-0b1e"
ENV = {"EH_LLM_KEY": KEY}


def _kind(body: dict) -> str:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("name") or "caption"


def test_rejected_captions_are_dropped_and_the_decision_is_cached(project: Path) -> None:
    server = LLMServer(api_key=KEY)
    try:
        cfg = project / "evalharness.toml"
        text = cfg.read_text().replace('mode = "text"', 'mode = "caption"').replace('api_key_env = ""', 'api_key_env = "EH_LLM_KEY"')
        text = text.replace('base_url = ""', f'base_url = "{server.url}/v1"\ncaption_check = '
                            '"vote(openai:picky-a, openai:picky-b, openai:keep-c)"')
        cfg.write_text(text.replace(', "VQ@10", "LowQ@10"', ""))
        assert "VQ@10" not in cfg.read_text()
        lines = (project / "queries" / "demo.csv").read_text().splitlines()
        (project / "queries" / "demo.csv").write_text("\n".join(lines[:7]) + "\n")
        result = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "openai:test-model", "--json", env=ENV)
        assert result.returncode == 0, result.stderr
        bodies = [r["body"] for r in server.recent()]
        judged = [json.dumps(b["messages"][1:]) for b in bodies if _kind(b) == "judgment"]  # what the pair's prompt holds
        checks = [b for b in bodies if _kind(b) == "caption_check"]
        assert judged and len(checks) == 3 * sum(1 for b in bodies if _kind(b) == "caption")  # every member asked once
        with_caption = sum("<image_caption>" in j for j in judged)
        con = sqlite3.connect(project / ".evalharness" / "cache.db")
        rows = con.execute("SELECT rationale, details FROM judgments").fetchall()
        dropped = [r for r in rows if "caption dropped as uninformative" in r[0]]
        kept = [r for r in rows if "caption kept" in r[0]]
        assert dropped and kept and len(dropped) + len(kept) == len(rows) == len(judged)
        assert with_caption == len(kept)  # a dropped caption never reaches the judge: those pairs are judged on text only
        assert all(json.loads(r[1])["caption_check"]["kept"] is False for r in dropped)
        decisions = con.execute("SELECT keep, votes FROM caption_checks").fetchall()
        assert {bool(k) for k, _ in decisions} == {True, False}
        assert all(json.loads(v)["openai:keep-c"] is True for _, v in decisions)

        con.execute("DELETE FROM judgments")
        con.commit()
        server.configure()
        again = run_cli(project, "run", "-e", "v2", "--top-k", "5", "--judge", "openai:test-model", "--json", env=ENV)
        assert again.returncode == 0, again.stderr
        kinds = [_kind(r["body"]) for r in server.recent()]
        assert kinds and set(kinds) == {"judgment"}  # captions and caption decisions all came from the cache
        assert sum("caption dropped" in r[0] for r in con.execute("SELECT rationale FROM judgments")) == len(dropped)
    finally:
        server.close()
