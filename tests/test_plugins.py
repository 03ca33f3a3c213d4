"""Third-party backends and judges through entry points, as an installed plugin package provides them: a real
distribution (dist-info with entry_points.txt) on the path of a real `evalharness` process."""

from __future__ import annotations

import json
import os
from pathlib import Path

from conftest import run_cli

PLUGIN = '''
from evalharness.backends import SearchBackend
from evalharness.judges import Judge
from evalharness.models import Hit, Judgment


class ReverseBackend(SearchBackend):
    """Every query gets the same three products, in the order [options] ids lists them."""

    def __init__(self, engine, project):
        self.ids = list(engine.config.options["ids"])

    def search(self, query, k):
        return [Hit(doc_id=d, rank=i + 1, score=1.0 / (i + 1), title=f"product {d}") for i, d in enumerate(self.ids[:k])]


class FirstIsRelevant(Judge):
    judge_id = "plugin:first-is-relevant"

    async def judge(self, request):
        label = "relevant" if request.hit.doc_id == "a" else "irrelevant"
        return Judgment(label, "plugin rule", self.judge_id)


def make_backend(engine, project):
    return ReverseBackend(engine, project)


def make_judge(model, config):
    return FirstIsRelevant()
'''


def _install(tmp: Path) -> dict[str, str]:
    site = tmp / "site"
    (site / "eh_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "eh_plugin.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "eh_plugin-1.0.dist-info"
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: eh-plugin\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[evalharness.backends]\nthree = eh_plugin:make_backend\n\n"
                                           "[evalharness.judges]\nfirstrel = eh_plugin:make_judge\n", encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}


def test_a_plugin_backend_and_judge_run_end_to_end(project: Path, tmp_path: Path) -> None:
    env = _install(tmp_path)
    (project / "engines" / "plug.toml").write_text('backend = "three"\n[options]\nids = ["a", "b", "c"]\n', encoding="utf-8")
    result = run_cli(project, "run", "-e", "plug", "--judge", "firstrel", "--top-k", "3", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "finished" and data["judge_id"] == "plugin:first-is-relevant"
    assert data["metrics"]["P(rel=2)@10"] == 0.1 and data["metrics"]["Judged@10"] == 1.0  # "a" of ten positions; all hits judged


def test_without_the_plugin_the_names_are_one_line_errors(project: Path) -> None:
    (project / "engines" / "plug.toml").write_text('backend = "three"\n', encoding="utf-8")
    result = run_cli(project, "run", "-e", "plug")
    assert result.returncode == 2 and "unknown backend 'three'" in result.stderr and "evalharness.backends" in result.stderr
    result = run_cli(project, "run", "-e", "v1", "--judge", "firstrel")
    assert result.returncode == 2 and "unknown judge 'firstrel'" in result.stderr
