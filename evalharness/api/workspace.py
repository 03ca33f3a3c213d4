"""`evalharness.open(project)`: a project folder as an object whose methods run, compare, gate and measure judges.

Each method opens the project's store for the call and closes it after, so a Workspace may live as long as a
notebook. Errors are EvalHarnessError with the same one-line message the command line prints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evalharness.api.results import AgreementResult, ComparisonResult, RunResult
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

if TYPE_CHECKING:
    import pandas as pd

    from evalharness.compare.comparison import Comparison
    from evalharness.compare.trustgate import TrustCheck

WEIGHTS = ("none", "traffic")


def open_project(path: str | Path = ".") -> Workspace:
    """The evalharness project in this folder (one with an evalharness.toml)."""
    return Workspace(Project(Path(path).expanduser().resolve()))


class Workspace:
    """One project: its config, engines, query sets, guidelines and store."""

    def __init__(self, project: Project) -> None:
        self.project = project

    @property
    def root(self) -> Path:
        return self.project.root

    def __repr__(self) -> str:
        return f"<evalharness.Workspace {self.root}>"

    def _store(self):  # noqa: ANN202 - Store, imported lazily
        from evalharness.store import Store

        return Store(self.project.store_url())

    def runs(self) -> pd.DataFrame:
        """Every stored run, newest first: id, engine config, status, judge, time and frozen metrics."""
        import pandas as pd

        store = self._store()
        try:
            rows = [{"run_id": r.run_id, "engine_config": r.engine_config, "status": r.status, "judge_id": r.judge_id,
                     "started_at": r.started_at, **{f"metric:{k}": v for k, v in (r.metrics or {}).items()}}
                    for r in store.list_runs()]
        finally:
            store.close()
        return pd.DataFrame(rows)

    def run(self, engine_config: str, *, queries: str | Path | None = None, judge: str | None = None,
            top_k: int | None = None, max_cost: float | None = None) -> RunResult:
        """Search with an engine config, judge every hit (cached) and store the run; what `evalharness run -e` does."""
        from evalharness.judges import make_judge
        from evalharness.pipeline.run import RunRequest, SilentStages, default_queries_path, run_engine
        from evalharness.querylog.querysets import read_query_set

        cfg = self.project.config
        qpath = self.project.resolve(queries) if queries else default_queries_path(self.project)
        judge_obj = make_judge(judge or cfg.judge.spec, cfg)
        engine = self.project.engine(engine_config)
        req = RunRequest(engine=engine, queries=read_query_set(qpath), queries_source=str(qpath), judge=judge_obj,
                         top_k=top_k or engine.config.top_k or cfg.run.top_k, metrics=list(cfg.run.metrics),
                         guideline_writer=cfg.guidelines.writer, max_cost=max_cost, max_retries=cfg.judge.max_retries)
        store = self._store()
        try:
            return RunResult(run_engine(self.project, store, req, SilentStages()))
        finally:
            store.close()

    def compare(self, baseline: str, *candidates: str, metrics: Sequence[str] | None = None, judge: str | None = None,
                labels: str | None = None, weight: str | None = None, allow_partial: bool = False, report: bool = False,
                stages: object | None = None, correct_with: str | None = None, behaviour: str | None = None,
                gate: bool = False) -> ComparisonResult:
        """Compare the newest runs of engine configs (or run ids): paired statistics per candidate × metric, scored
        on the compared runs' own pairs; `report=True` keeps what the HTML report shows. What `compare` does (and,
        with `gate=True`, what `gate` compares: a `[gate.trust]` source corrects it and says what the judge is worth).
        `correct_with` adds PPI++ estimates from a gold source; `behaviour` the engagement of a behaviour:NAME source."""
        from evalharness.compare.runs import check_clean, compare_runs, configured_workers, judge_spec_of, resolve_run
        from evalharness.judges import make_judge
        from evalharness.metrics.ir import parse_measures
        from evalharness.pipeline.run import SilentStages

        if not candidates:
            raise EvalHarnessError("compare needs a baseline and at least one candidate")
        cfg = self.project.config
        names = list(metrics or cfg.run.metrics)
        parse_measures(names)
        weight = weight or cfg.compare.weight
        if weight not in WEIGHTS:
            raise EvalHarnessError(f"--weight {weight!r} is not known; use one of: {', '.join(WEIGHTS)}")
        alpha = min((r.alpha for r in cfg.gate.rules if r.alpha is not None), default=0.05)
        store = self._store()
        try:
            if behaviour:  # a missing or misnamed source fails before any judging
                from evalharness.store.behaviour import behaviour_model, check_behaviour_source

                behaviour_model(store, check_behaviour_source(behaviour))
            base = resolve_run(store, baseline)
            cands = [resolve_run(store, ref) for ref in candidates]
            for run in (base, *cands):
                check_clean(run, allow_partial)
            # By default, judge with what judged the runs (when they agree), else with the project's judge.
            specs = {judge_spec_of(r.judge_id) for r in (base, *cands)}
            spec = judge or (specs.pop() if len(specs) == 1 else cfg.judge.spec)
            judge_obj = make_judge(spec, cfg, need_key=False)  # the key is checked only if a pair is sent
            comparison = compare_runs(self.project, store, base, cands, judge_obj, names, alpha=alpha, weight=weight,
                                      holm_exclude=cfg.compare.holm_exclude, stages=stages or SilentStages(),
                                      for_report=report, labels=labels,
                                      workers=configured_workers(cfg.compare.workers))
            if behaviour:
                from evalharness.compare.engagement import comparison_engagement
                from evalharness.labels.schemes import scheme_of

                comparison.engagement = comparison_engagement(store, behaviour, comparison, scheme_of(cfg).gains, cfg.run.top_k)
            trust = _correct_and_trust(self.project, store, comparison, correct_with, gate, spec, judge_obj)
        finally:
            store.close()
        return ComparisonResult(comparison, self.project, report, trust)

    def agreement(self, human: str, judges: Sequence[str] | None = None, *, catalog: str | Path | None = None,
                  bootstrap: int = 2000, stages: object | None = None) -> AgreementResult:
        """Judge exactly the pairs a reference source labelled (cached) and measure each judge against it."""
        from evalharness.agreement.catalogs import agreement_catalog
        from evalharness.agreement.pairwise import measure_agreement
        from evalharness.judges import make_judge
        from evalharness.labels.schemes import scheme_of
        from evalharness.pipeline.run import SilentStages
        from evalharness.store.labels import check_source

        cfg = self.project.config
        source = check_source(human if ":" in human else f"human:{human}")
        specs = list(dict.fromkeys(judges or [cfg.judge.spec]))
        store = self._store()
        try:
            made = [(s, make_judge(s, cfg)) for s in specs]
            a = measure_agreement(self.project, store, source, made, agreement_catalog(self.project, catalog, None),
                                  scheme_of(cfg), bootstrap, stages or SilentStages())
            from evalharness.agreement.trust import record_agreement

            record_agreement(store, a)  # what a [gate.trust] gate reads
        finally:
            store.close()
        return AgreementResult(a)


def _correct_and_trust(project: Project, store: object, c: Comparison, correct_with: str | None, gate: bool, spec: str,
                       judge: object) -> TrustCheck | None:
    """The corrected estimates (`correct_with`, else [compare] correct_with, else a gate's [gate.trust] source) and,
    for a gate with [gate.trust], what its judge is worth."""
    cfg = project.config
    trust = cfg.gate.trust if gate else None
    source = correct_with or cfg.compare.correct_with or (trust.source if trust is not None else "")
    if source:
        from evalharness.compare.gold import correct_comparison

        c.corrected = correct_comparison(cfg, store, c, source)  # type: ignore[arg-type]
    if trust is not None:
        from evalharness.agreement.catalogs import agreement_catalog
        from evalharness.agreement.trust import assess_trust

        catalog = agreement_catalog(project, None, c.candidates[0].run.engine_config)
        return assess_trust(project, store, trust, c, spec, judge, catalog)  # type: ignore[arg-type]
    return None
