"""Two runs started at once on a fresh project both succeed: SQLite and PostgreSQL, five trials each."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_project

TRIALS = 5


def _fresh_postgres_db(url: str, name: str) -> str:
    """A new, empty database on the test server (a fresh store for one trial)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


def _start_both(project: Path) -> list[subprocess.Popen]:
    cmd = [sys.executable, "-m", "evalharness", "-C", str(project), "run", "-e", "v2", "--top-k", "3", "--json"]
    env = {k: v for k, v in os.environ.items() if k != "EVALHARNESS_DEBUG"}
    return [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_first_runs_at_once_both_succeed(tmp_path: Path, demo_dir: Path, backend: str,
                                            request: pytest.FixtureRequest) -> None:
    for trial in range(TRIALS):
        project = make_project(tmp_path / f"trial{trial}", demo_dir, n_queries=15)
        (project / ".evalharness" / "demo").unlink()  # truly fresh: both processes find no demo catalog, index or store
        if backend == "postgresql":
            url = _fresh_postgres_db(request.getfixturevalue("postgres_url"), f"eh_concurrent_{trial}")
            cfg = project / "evalharness.toml"
            cfg.write_text(cfg.read_text().replace('url = "sqlite:///.evalharness/cache.db"', f'url = "{url}"'))
        procs = _start_both(project)
        results = [(p, *p.communicate(timeout=600)) for p in procs]
        for proc, out, err in results:
            assert proc.returncode == 0, f"trial {trial}: {err}"
            data = json.loads(out)
            assert data["status"] == "finished" and data["counts"]["queries"] == 15 and data["counts"]["failed"] == 0
        first, second = (json.loads(out) for _, out, _ in results)
        assert first["metrics"] == second["metrics"]  # same index, same guidelines, same judgments
        assert len(list((project / "guidelines").glob("*.md"))) == 15
        assert not list((project / "guidelines").glob(".*.tmp"))
        assert sorted(p.name for p in (project / ".evalharness" / "indexes").iterdir()) == ["v2", "v2.lock"]
        assert not list((project / ".evalharness" / "demo").glob("*.tmp"))
