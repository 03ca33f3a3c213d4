"""`evalharness run` end to end on the embedded default, through the real CLI."""

import json
from pathlib import Path

from conftest import assert_user_error, run_cli

from evalharness.config import load_project_config
from evalharness.guidelines.files import guideline_path


def _json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_second_run_is_fully_cached_with_identical_metrics(project: Path) -> None:
    first = _json(run_cli(project, "run", "--engine-config", "v2", "--json"))
    assert set(first) >= {"run_id", "engine_config", "metrics", "counts", "elapsed_s"}
    assert set(first["counts"]) >= {"queries", "hits", "judged_new", "judged_cached", "failed"}
    assert first["counts"]["queries"] == 60 and first["counts"]["judged_new"] > 0 and first["counts"]["failed"] == 0
    assert set(first["metrics"]) == set(load_project_config(project).run.metrics)
    second = _json(run_cli(project, "run", "--engine-config", "v2", "--json"))
    assert second["counts"]["judged_new"] == 0
    assert second["counts"]["judged_cached"] == first["counts"]["judged_new"]
    assert second["metrics"] == first["metrics"]
    assert second["run_id"] != first["run_id"]


def test_editing_one_guideline_rejudges_only_that_query(project: Path) -> None:
    first = _json(run_cli(project, "run", "--engine-config", "v2", "--json"))
    path = guideline_path(project / "guidelines", "sneakers")
    assert path.exists()
    path.write_text(path.read_text() + "\nReviewer note: running shoes count as sneakers.\n")
    again = _json(run_cli(project, "run", "--engine-config", "v2", "--json"))
    # top-k hits of exactly one query are judged again; everything else comes from the cache
    assert 0 < again["counts"]["judged_new"] <= 10
    assert again["counts"]["judged_new"] + again["counts"]["judged_cached"] == first["counts"]["judged_new"]
    assert "Reviewer note" in path.read_text()  # a human edit is kept, never overwritten


def test_baseline_run_prints_both_configs(project: Path) -> None:
    data = _json(run_cli(project, "run", "--engine-config", "v2", "--baseline", "v1", "--json"))
    assert data["engine_config"] == "v2" and data["baseline"]["engine_config"] == "v1"
    assert data["metrics"]["nDCG@10"] > data["baseline"]["metrics"]["nDCG@10"]  # v2 is measurably better
    table = run_cli(project, "run", "--engine-config", "v2", "--baseline", "v1")
    assert table.returncode == 0, table.stderr
    for needle in ("nDCG@10", "v1", "v2", "delta", "from cache"):
        assert needle in table.stdout


def test_zero_hit_queries_count(project: Path) -> None:
    (project / "queries" / "mixed.csv").write_text("id,query,count,segment\na,sneakers,5,head\nb,harpsichord strings,1,tail\n")
    data = _json(run_cli(project, "run", "-e", "v1", "--queries", "queries/mixed.csv", "--json"))
    assert data["counts"]["queries"] == 2 and data["counts"]["zero_hit_queries"] == 1
    assert data["metrics"]["Judged@10"] <= 0.5  # the zero-hit query is averaged in as 0


def test_top_k_option_limits_hits(project: Path) -> None:
    data = _json(run_cli(project, "run", "-e", "v2", "--top-k", "3", "--json"))
    assert data["counts"]["hits"] <= 3 * data["counts"]["queries"]


def test_dry_run_judges_nothing(project: Path) -> None:
    data = _json(run_cli(project, "run", "-e", "v2", "--dry-run", "--json"))
    assert data[0]["calls"] > 0 and data[0]["cached"] == 0
    after = _json(run_cli(project, "run", "-e", "v2", "--json"))
    assert after["counts"]["judged_cached"] == 0  # the dry run stored no judgment


def test_unknown_config_key_names_file_key_and_allowed(project: Path) -> None:
    (project / "engines" / "bad.toml").write_text('backend = "tantivy"\n[tantivy]\nfield = ["title"]\n')
    assert_user_error(run_cli(project, "run", "-e", "bad"), "bad.toml", "tantivy.field", "allowed keys here: boosts")


def test_bad_values_and_syntax_are_one_line_errors(project: Path) -> None:
    (project / "engines" / "b1.toml").write_text('backend = "solr"\n')
    assert_user_error(run_cli(project, "run", "-e", "b1"), "b1.toml", "backend", "tantivy")
    (project / "engines" / "b2.toml").write_text('backend = "tantivy\n')
    assert_user_error(run_cli(project, "run", "-e", "b2"), "b2.toml", "not valid TOML")
    (project / "engines" / "b3.toml").write_text('[tantivy]\nfields = ["title", "colour"]\n')
    assert_user_error(run_cli(project, "run", "-e", "b3"), "unknown field 'colour'")
    assert_user_error(run_cli(project, "run", "-e", "nope"), "engine config 'nope' not found", "v1")


def test_project_config_errors(project: Path) -> None:
    cfg = project / "evalharness.toml"
    cfg.write_text(cfg.read_text().replace('mode = "text"', 'mode = "video"'))
    assert_user_error(run_cli(project, "run", "-e", "v1"), "evalharness.toml", "judge.mode", "'text'")
    cfg.write_text('[store]\nurl = "nosuchdb://x"\n')
    assert_user_error(run_cli(project, "run", "-e", "v1"), "store URL", "[store] url")
    cfg.write_text('[run]\nmetrics = ["nDCG@ten"]\n')
    assert_user_error(run_cli(project, "run", "-e", "v1"), "unknown measure")


def test_query_file_errors(project: Path) -> None:
    (project / "queries" / "empty.csv").write_text("id,query,count,segment\n")
    assert_user_error(run_cli(project, "run", "-e", "v1", "-q", "queries/empty.csv"), "empty")
    (project / "queries" / "nohead.csv").write_text("foo,bar\n1,2\n")
    assert_user_error(run_cli(project, "run", "-e", "v1", "-q", "queries/nohead.csv"), "'query' column")
    assert_user_error(run_cli(project, "run", "-e", "v1", "-q", "queries/missing.csv"), "cannot read query set")
    assert_user_error(run_cli(project, "run", "-e", "v1", "--judge", "claude:opus"), "unknown judge 'claude:opus'")


def test_broken_guideline_file_is_a_user_error(project: Path) -> None:
    assert run_cli(project, "run", "-e", "v1").returncode == 0
    path = guideline_path(project / "guidelines", "sneakers")
    path.write_text("no front matter here\n")
    assert_user_error(run_cli(project, "run", "-e", "v1"), path.name, "front matter")


def test_init_scaffolds_a_project_that_runs(tmp_path: Path, demo_dir: Path) -> None:
    target = tmp_path / "newproj"
    result = run_cli(tmp_path, "init", str(target))
    assert result.returncode == 0, result.stderr
    text = (target / "evalharness.toml").read_text()
    assert text.count("#") > 5  # commented
    assert (target / "engines" / "v2.toml").exists() and (target / "queries" / "example.csv").exists()
    (target / ".evalharness").mkdir()
    (target / ".evalharness" / "demo").symlink_to(demo_dir)
    data = _json(run_cli(target, "run", "-e", "v2", "--json"))
    assert data["counts"]["queries"] == 3
    assert_user_error(run_cli(tmp_path, "init", str(target)), "already exists", "--force")


def test_index_follows_the_engine_config_and_runs_name_the_catalog(project: Path, demo_dir: Path) -> None:
    small = project / "small.jsonl"
    lines = (demo_dir / "catalog.jsonl").read_text().splitlines()
    small.write_text("\n".join(lines[:300]) + "\n")
    cfg = project / "engines" / "v1.toml"
    cfg.write_text(cfg.read_text().replace('catalog = "demo"', 'catalog = "small.jsonl"'))
    # `index -e X` without --catalog indexes the catalog the config names
    result = run_cli(project, "index", "-e", "v1")
    assert result.returncode == 0 and "indexed 300 products" in result.stdout, result.stderr
    data = _json(run_cli(project, "run", "-e", "v1", "--json"))
    ids = {h for q in _stored(project, data["run_id"]) for h in q}
    assert ids and all(int(d[1:]) < 300 for d in ids)
    assert data["catalog"] == "small.jsonl" and data["status"] == "finished"
    listed = _json(run_cli(project, "runs", "--json"))
    assert listed[0]["catalog"] == "small.jsonl"
    assert "catalog small.jsonl" in run_cli(project, "run", "-e", "v1").stdout
    # an explicit --catalog that the config does not name is refused (runs would refuse that index)
    assert_user_error(run_cli(project, "index", "-e", "v1", "--catalog", "demo"), "v1.toml names catalog 'small.jsonl'")
    # the config now names another catalog than the one `index` built from: refuse, say how to rebuild
    cfg.write_text(cfg.read_text().replace('catalog = "small.jsonl"', 'catalog = "demo"'))
    assert_user_error(run_cli(project, "run", "-e", "v1"), "built from small.jsonl", "names catalog 'demo'",
                      "evalharness index -e v1")
    assert run_cli(project, "index", "-e", "v1").returncode == 0
    assert _json(run_cli(project, "run", "-e", "v1", "--json"))["catalog"] == "demo"


def test_an_index_built_by_a_run_follows_a_change_of_the_config(project: Path, demo_dir: Path) -> None:
    small = project / "small.jsonl"
    lines = (demo_dir / "catalog.jsonl").read_text().splitlines()
    small.write_text("\n".join(lines[:300]) + "\n")
    assert _json(run_cli(project, "run", "-e", "v1", "--json"))["counts"]["hits"] > 300
    cfg = project / "engines" / "v1.toml"
    cfg.write_text(cfg.read_text().replace('catalog = "demo"', 'catalog = "small.jsonl"'))
    data = _json(run_cli(project, "run", "-e", "v1", "--json"))
    ids = {h for q in _stored(project, data["run_id"]) for h in q}
    assert ids and all(int(d[1:]) < 300 for d in ids) and data["catalog"] == "small.jsonl"


def _stored(project: Path, run_id: str) -> list[list[str]]:
    from evalharness.project import Project
    from evalharness.store import Store

    store = Store(Project(project).store_url())
    try:
        return [[h.doc_id for h in q.hits] for q in store.run_queries(run_id)]
    finally:
        store.close()
