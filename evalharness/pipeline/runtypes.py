"""The data a run passes between its stages: the request, progress reporting, where judging starts, the outcome."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalharness.judges.base import Judge
from evalharness.models import Hit, Query
from evalharness.pipeline.judging import Pair
from evalharness.pipeline.runstate import FINISHED
from evalharness.project import LoadedEngine, Project
from evalharness.store import Store
from evalharness.store.db import StoredQuery


class Stages(Protocol):
    """Progress reporting: `stage(name, total)` returns a context manager yielding an advance(n) function."""

    def stage(self, name: str, total: int) -> AbstractContextManager[Callable[[int], None]]: ...



class SilentStages:
    """No progress output (for --json and library use)."""

    def stage(self, name: str, total: int) -> AbstractContextManager[Callable[[int], None]]:
        return nullcontext(lambda n: None)



@dataclass
class RunOutcome:
    """What one run produced, for printing and for --json."""

    run_id: str
    engine_config: str
    config_hash: str
    judge_id: str
    metrics: dict[str, float | None]
    per_query: dict[str, dict[str, float]]
    counts: dict[str, int]
    elapsed_s: float
    cost_usd: float
    failures: list[dict[str, str]] = field(default_factory=list)
    status: str = FINISHED
    catalog: str = ""
    # the run's lists as stored (set when the run finishes here): scoring it again needs no read of the store
    stored: list[StoredQuery] | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "engine_config": self.engine_config, "config_hash": self.config_hash,
                "status": self.status, "catalog": self.catalog,
                "judge_id": self.judge_id, "metrics": self.metrics, "counts": self.counts,
                "cost_usd": round(self.cost_usd, 6), "elapsed_s": round(self.elapsed_s, 3), "failures": self.failures}



class BatchService(Protocol):
    """A provider batch service a run can go through instead of judging now (evalharness.batch.runs.BATCH_SERVICE)."""

    def submit(self, project: Project, store: Store, req: RunRequest, start: RunStart, stages: Stages) -> RunOutcome:
        """Submit the run's uncached pairs; the run waits until the batch results are collected."""

    def price(self, judge: Judge) -> tuple[float, float]:
        """(input, output) USD per million tokens through the batch service."""



@dataclass
class RunRequest:
    """What to run: an engine config over a query set with a judge."""

    engine: LoadedEngine
    queries: list[Query]
    queries_source: str
    judge: Judge
    top_k: int
    metrics: list[str]
    guideline_writer: str
    max_cost: float | None = None
    max_retries: int = 4
    batch: BatchService | None = None  # through the provider's batch service: the run waits (`batches collect` finishes it)
    cover: tuple[str, ...] = ()  # --labels human sources whose labelled pairs are never sent to the judge
    # --labels: the run's qrels from its label source (labels.sources.source_qrels), so it is stored scored on it
    label_qrels: Callable[[list[StoredQuery]], dict[str, dict[str, int]]] | None = None



@dataclass
class RunStart:
    """A run searched and stored, its pairs built: what judging (live or batch) starts from."""

    run_id: str
    catalog: str
    started: float  # perf_counter at the start
    stored: list[StoredQuery]
    hits: dict[str, list[Hit]]
    pairs: list[Pair]
    where: dict[str, str]  # pair key -> 'query id<TAB>doc id'
    failures: list[dict[str, str]]  # pairs that could not be judged (listed, never labelled)
    with_images: bool
