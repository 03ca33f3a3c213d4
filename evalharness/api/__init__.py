"""The Python API for notebooks and scripts: `evalharness.open(project)` and the result objects it returns.

    import evalharness
    ws = evalharness.open("path/to/project")
    run = ws.run("v2")                      # RunResult: .metrics, .frame() per query, .status
    cmp = ws.compare("v1", "v2")            # ComparisonResult: .frame(), .html(path), .markdown(), .gate()
    agr = ws.agreement("human:esci")        # AgreementResult: .frame(), .markdown(), .html(path)

Every call works on the same store, cache and files as the command line, so a judgment paid for in a notebook
is reused by `evalharness run` and the other way round.
"""

from evalharness.api.results import AgreementResult, ComparisonResult, GateOutcome, RunResult
from evalharness.api.workspace import Workspace, open_project

__all__ = ["AgreementResult", "ComparisonResult", "GateOutcome", "RunResult", "Workspace", "open_project"]
