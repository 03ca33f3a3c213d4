"""Shared fixtures: the demo catalog (generated once), throwaway projects, and a CLI runner."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated demo catalog, shared by every test project of the session."""
    from evalharness.sample import ensure_demo_catalog

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest-xdist: one catalog for all workers (generation takes a file lock)
        cache = base.parent / "demo-cache"
        cache.mkdir(exist_ok=True)
    else:
        cache = tmp_path_factory.mktemp("demo-cache")
    return ensure_demo_catalog(cache).root


def make_project(root: Path, demo_dir: Path, n_queries: int | None = 60) -> Path:
    """A project folder like the repository's, with the first n demo queries and the shared demo catalog."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "evalharness.toml", root / "evalharness.toml")
    shutil.copytree(REPO / "engines", root / "engines")
    (root / "queries").mkdir()
    with (REPO / "queries" / "demo.csv").open() as src, (root / "queries" / "demo.csv").open("w", newline="") as dst:
        rows = list(csv.reader(src))
        keep = rows if n_queries is None else rows[: n_queries + 1]
        csv.writer(dst).writerows(keep)
    (root / ".evalharness").mkdir()
    (root / ".evalharness" / "demo").symlink_to(demo_dir, target_is_directory=True)
    return root


@pytest.fixture
def ctrl_c_heard():
    """Ctrl-C raises KeyboardInterrupt in this test, as in a terminal, also when the test process was started in the
    background by a shell (which leaves SIGINT ignored); the handler found is put back after."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.fixture
def project(tmp_path: Path, demo_dir: Path) -> Path:
    return make_project(tmp_path / "proj", demo_dir)


def run_cli(project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `evalharness` command in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("EVALHARNESS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "evalharness", "-C", str(project), *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2, one line on stderr that starts with 'error:' and contains the fragments, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def needs_shared_data() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not SHARED_DATA.exists(), reason=f"shared data not found at {SHARED_DATA} (it lives beside the checkout)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's postgresql package; .ci/run installs it)."""
    import tempfile
    import time

    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl or not _pg_bin("postgres"):
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    data = Path(tempfile.mkdtemp(prefix="evalharness-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres system user
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, initdb, "-D", str(data / "db"), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start"], check=True, capture_output=True)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    deadline = time.time() + 30
    import sqlalchemy

    while True:
        try:
            with sqlalchemy.create_engine(url).connect():
                break
        except sqlalchemy.exc.OperationalError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    yield url
    subprocess.run([*prefix, pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url: str):
    """An empty database of its own on the session's PostgreSQL server (dropped afterwards)."""
    import secrets

    import sqlalchemy

    name = f"eh_{secrets.token_hex(6)}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield postgres_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(scope="session")
def osmem_server():
    """A writable osmem-server (in-memory OpenSearch-compatible engine) on 127.0.0.1 for the whole session."""
    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


@pytest.fixture(scope="session")
def es_proxy(osmem_server):
    """osmem behind a proxy that speaks to the Elasticsearch 9 client (media-type and product headers)."""
    from httpfixtures import start_proxy

    server, url = start_proxy(osmem_server.url, rewrite_es=True)
    yield url
    server.shutdown()


def cluster_engine(project: Path, name: str, template: str, host: str, index: str, extra: str = "") -> None:
    """Copy a shipped cluster engine config with another host and index."""
    text = (REPO / "engines" / f"{template}.toml").read_text()
    text = text.replace('hosts = ["http://127.0.0.1:9200"]', f'hosts = ["{host}"]').replace('index = "evalharness-demo"', f'index = "{index}"')
    (project / "engines" / f"{name}.toml").write_text(text + extra)
