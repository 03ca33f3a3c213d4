"""How compare splits its queries and where it scores them: chunks bounded in size, forked workers only for idle cores."""

import pytest

from evalharness.compare import runs
from evalharness.compare.runs import CHUNK_MAX_QUERIES, CHUNK_QUERIES, default_chunks, idle_workers


@pytest.mark.parametrize(("n", "workers", "chunks"), [
    (10, 1, 1), (10, 4, 1), (CHUNK_QUERIES * 2, 4, 2), (CHUNK_MAX_QUERIES, 1, 1), (CHUNK_MAX_QUERIES + 1, 1, 2),
    (2 * CHUNK_MAX_QUERIES, 1, 2), (2 * CHUNK_MAX_QUERIES, 2, 2), (2 * CHUNK_MAX_QUERIES, 4, 4), (0, 2, 1),
])
def test_chunks_follow_workers_and_stay_bounded(n: int, workers: int, chunks: int) -> None:
    assert default_chunks(n, workers) == chunks


@pytest.mark.parametrize(("cores", "load", "workers"), [
    (2, 0.1, 2), (2, 0.4, 2), (2, 0.6, 1), (2, 1.0, 1), (2, 9.0, 1), (4, 1.2, 3), (4, 0.0, 4), (4, 2.9, 1), (1, 0.0, 1),
])
def test_forked_workers_only_for_idle_cores(monkeypatch: pytest.MonkeyPatch, cores: int, load: float, workers: int) -> None:
    monkeypatch.setattr(runs, "usable_workers", lambda requested: min(requested, cores))
    monkeypatch.setattr(runs.os, "getloadavg", lambda: (load, load, load))
    assert idle_workers(8) == workers
    assert idle_workers(1) == 1


def test_without_a_load_average_every_usable_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> tuple[float, float, float]:
        raise OSError("no load average")

    monkeypatch.setattr(runs, "usable_workers", lambda requested: min(requested, 2))
    monkeypatch.setattr(runs.os, "getloadavg", missing)
    assert idle_workers(8) == 2


@pytest.mark.parametrize(("configured", "load", "workers"), [(0, 0.1, 2), (0, 1.5, 1), (1, 0.1, 1), (3, 1.5, 3)])
def test_compare_workers_config(monkeypatch: pytest.MonkeyPatch, configured: int, load: float, workers: int) -> None:
    # [compare] workers: 0 follows the idle cores, 1 keeps one process, N asks for N whatever the load
    from evalharness.compare.runs import configured_workers
    from evalharness.config import ProjectConfig

    monkeypatch.setattr(runs, "usable_workers", lambda requested: min(requested, 2))
    monkeypatch.setattr(runs.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(runs.os, "cpu_count", lambda: 2)
    cfg = ProjectConfig.model_validate({"compare": {"workers": configured}})
    assert configured_workers(cfg.compare.workers) == workers
