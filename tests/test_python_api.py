"""The Python API as the manual shows it: the example in docs/guide/python-api.md runs as written on the demo project,
and what it returns agrees with the command line on the same store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

import evalharness
from evalharness.errors import EvalHarnessError

PAGE = Path(__file__).resolve().parent.parent / "docs" / "guide" / "python-api.md"


def _examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)


def test_the_manual_example_runs_and_matches_the_cli(project: Path, tmp_path: Path) -> None:
    (example,) = _examples()
    scope = {"PROJECT": project, "OUT": tmp_path}
    exec(compile(example, str(PAGE), "exec"), scope)  # noqa: S102 - the documented example, run as written
    cmp = scope["cmp"]
    assert isinstance(scope["per_query"], pd.DataFrame) and len(scope["per_query"]) > 0
    assert (tmp_path / "compare.html").stat().st_size > 10_000
    assert "nDCG@10" in scope["summary"]
    # the same comparison from the command line gives the same figures
    cli = run_cli(project, "compare", "v1", "v2", "--json")
    assert cli.returncode == 0, cli.stderr
    rows = {(r["candidate"], r["metric"]): r for r in json.loads(cli.stdout)["metrics"]}
    for r in cmp.frame().to_dict("records"):
        assert rows[(r["candidate"], r["metric"])]["delta"] == pytest.approx(r["delta"], abs=1e-12)
    gate = scope["gate"]
    assert gate.exit_code == (0 if gate.passed else 1)


def test_public_names() -> None:
    assert callable(evalharness.open) and evalharness.Workspace.__name__ == "Workspace"
    assert set(evalharness.__all__) == {"Workspace", "__version__", "open"}
    with pytest.raises(AttributeError):
        _ = evalharness.nosuch


def test_errors_are_the_cli_lines(tmp_path: Path, project: Path) -> None:
    with pytest.raises(EvalHarnessError, match="is not an evalharness project"):
        evalharness.open(tmp_path).runs()
    with pytest.raises(EvalHarnessError, match="no stored run for 'nosuch'"):
        evalharness.open(project).compare("nosuch", "v2")
