"""What the Python API returns: plain objects that render to pandas DataFrames and to the reports the CLI writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from evalharness.agreement.pairwise import Agreement
    from evalharness.compare.comparison import Comparison
    from evalharness.compare.gate import GateResult
    from evalharness.compare.trustgate import TrustCheck
    from evalharness.pipeline.run import RunOutcome
    from evalharness.project import Project


def _write(path: str | Path, text: str) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


@dataclass
class RunResult:
    """One stored run: its id, status (finished, partial, failed, interrupted, waiting), metrics and per-query values."""

    outcome: RunOutcome

    @property
    def run_id(self) -> str:
        return self.outcome.run_id

    @property
    def status(self) -> str:
        return self.outcome.status

    @property
    def metrics(self) -> dict[str, float | None]:
        return dict(self.outcome.metrics)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.outcome.counts)

    def frame(self) -> pd.DataFrame:
        """Per-query metric values: one row per query id, one column per metric."""
        import pandas as pd

        df = pd.DataFrame.from_dict(self.outcome.per_query, orient="index")
        df.index.name = "query_id"
        return df.sort_index()

    def to_json(self) -> dict[str, Any]:
        return self.outcome.to_json()

    def __repr__(self) -> str:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in self.outcome.metrics.items() if v is not None)
        return f"<RunResult {self.run_id} {self.outcome.engine_config} {self.status}: {shown}>"


@dataclass
class GateOutcome:
    """The gate's decision on a comparison: `passed`, each check with its detail, and the exit code the CLI uses."""

    result: GateResult

    @property
    def passed(self) -> bool:
        return self.result.passed

    @property
    def outcome(self) -> str:
        """PASS, FAIL or INCONCLUSIVE (a [gate.trust] gate that cannot decide)."""
        return self.result.outcome

    @property
    def exit_code(self) -> int:
        from evalharness.errors import EXIT_GATE_FAILED, EXIT_GATE_INCONCLUSIVE, EXIT_OK

        return {"PASS": EXIT_OK, "FAIL": EXIT_GATE_FAILED, "INCONCLUSIVE": EXIT_GATE_INCONCLUSIVE}[self.result.outcome]

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([{"check": r.name, "passed": r.passed, "status": r.status, "detail": r.detail} for r in self.result.results])

    def to_json(self) -> dict[str, Any]:
        return self.result.to_json()


@dataclass
class ComparisonResult:
    """A baseline against N candidates with paired statistics; renders as a DataFrame, JSON, Markdown and HTML."""

    comparison: Comparison
    project: Project
    for_report: bool = False
    trust: TrustCheck | None = None  # what the judge is worth, for a comparison made with compare(..., gate=True)

    def frame(self) -> pd.DataFrame:
        """One row per candidate × metric: means, delta, 95 % CI, p-values (t, randomization, Holm), W/T/L."""
        import pandas as pd

        df = pd.DataFrame([r.to_json() for r in self.comparison.rows])
        return df.rename(columns={"baseline": "mean_base", "candidate_mean": "mean_cand"})

    def per_query(self) -> pd.DataFrame:
        """Per-query values of every side: one row per query, columns (side, metric)."""
        import pandas as pd

        c = self.comparison
        data = {(s.name, m): s.values[m] for s in c.sides for m in c.metric_names if m in s.values}
        df = pd.DataFrame(data, index=[q.id for q in c.queries])
        df.index.name = "query_id"
        return df

    def to_json(self) -> dict[str, Any]:
        return self.comparison.to_json()

    def markdown(self) -> str:
        from evalharness.report.markdown import comparison_markdown

        return comparison_markdown(self.comparison)

    def html(self, path: str | Path, gate: GateOutcome | None = None) -> Path:
        """Write the self-contained HTML comparison report (the one `compare --html` writes) and return its path;
        the comparison must have been made with `report=True` (it then holds the products and rationales)."""
        from evalharness.errors import EvalHarnessError
        from evalharness.report.html import write_html

        if not self.for_report:
            raise EvalHarnessError("this comparison was made without report data: use compare(..., report=True) to write HTML")
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_html(self.comparison, out, self.project, gate.result if gate is not None else None)
        return out

    def gate(self) -> GateOutcome:
        """The project's `[gate]` rules applied to this comparison (with `[gate.trust]`, make the comparison with
        compare(..., gate=True) so the gate knows what its judge is worth; otherwise such a gate is INCONCLUSIVE)."""
        from evalharness.compare.gate import evaluate_gate

        return GateOutcome(evaluate_gate(self.comparison, self.project.config.gate, self.trust))

    def __repr__(self) -> str:
        c = self.comparison
        return (f"<ComparisonResult {c.baseline.name} -> {', '.join(s.name for s in c.candidates)}: "
                f"{len(c.queries)} queries, {len(c.rows)} rows>")


@dataclass
class AgreementResult:
    """Judges measured against a reference label source (people or shoppers' behaviour)."""

    agreement: Agreement

    def frame(self) -> pd.DataFrame:
        """One row per judge: the agreement statistics with their CIs."""
        import pandas as pd

        data = self.agreement.to_json()
        return pd.json_normalize(data.get("judges", []))

    def to_json(self) -> dict[str, Any]:
        return self.agreement.to_json()

    def markdown(self) -> str:
        from evalharness.agreement.report import agreement_markdown

        return agreement_markdown(self.agreement)

    def html(self, path: str | Path) -> Path:
        from evalharness.agreement.report import agreement_html

        return _write(path, agreement_html(self.agreement))
