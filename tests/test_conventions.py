"""Conventions users expect from a command-line tool, through the real `evalharness` command."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import assert_user_error, run_cli

from evalharness.guidelines.files import guideline_path


def _eh(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`evalharness ARGS` run in cwd, without an implicit -C."""
    full = {k: v for k, v in os.environ.items() if k != "EVALHARNESS_DEBUG"} | (env or {})
    return subprocess.run([sys.executable, "-m", "evalharness", *args], cwd=cwd, capture_output=True, text=True, env=full,
                          timeout=300)


def test_version_and_short_help(tmp_path: Path) -> None:
    from evalharness import __version__

    version = _eh(tmp_path, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"evalharness {__version__}"
    for args in (["-h"], ["run", "-h"], ["queries", "pull", "-h"]):
        shown = _eh(tmp_path, *args)
        assert shown.returncode == 0 and "Usage: evalharness" in shown.stdout, args


def test_help_text_with_brackets_is_printed_literally(tmp_path: Path) -> None:
    assert "(default: [run] queries)" in _eh(tmp_path, "run", "--help").stdout
    assert "(default: [guidelines] writer)" in _eh(tmp_path, "guidelines", "regenerate", "--help").stdout


def test_project_option_after_the_command(project: Path, tmp_path: Path) -> None:
    assert run_cli(project, "run", "-e", "v1", "--top-k", "2").returncode == 0
    for args in (["runs", "-C", str(project), "--json"], ["runs", "--json", "--project", str(project)],
                 ["runs", f"--project={project}", "--json"]):
        result = _eh(tmp_path, *args)
        assert result.returncode == 0 and '"engine_config": "v1"' in result.stdout, (args, result.stderr)


def test_outside_a_project_says_so_and_creates_nothing(tmp_path: Path) -> None:
    for args in (["runs"], ["run", "-e", "v2"], ["index", "-e", "v2"], ["compare", "v1", "v2"]):
        assert_user_error(_eh(tmp_path, *args), "is not an evalharness project", "evalharness init")
    assert list(tmp_path.iterdir()) == []


def test_usage_errors_are_one_line(project: Path) -> None:
    for args in (["run", "--bogus"], ["run"], ["nosuchcommand"], ["run", "-e", "v1", "--top-k", "zero"]):
        result = run_cli(project, *args)
        assert_user_error(result, "--help")
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_debug_keeps_exit_code_2(project: Path) -> None:
    result = _eh(project, "run", "-e", "missing", env={"EVALHARNESS_DEBUG": "1"})
    assert result.returncode == 2 and "Traceback" in result.stderr and "error: engine config 'missing' not found" in result.stderr


def test_init_resolves_against_the_project_folder_and_writes_gitignore(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    result = _eh(tmp_path, "-C", "work", "init", "shop-eval")
    assert result.returncode == 0, result.stderr
    target = tmp_path / "work" / "shop-eval"
    assert (target / "evalharness.toml").exists() and not (tmp_path / "shop-eval").exists()
    assert ".evalharness/" in (target / ".gitignore").read_text().splitlines()


def test_queries_pull_source_is_relative_to_the_project(project: Path, tmp_path: Path) -> None:
    (project / "logs").mkdir()
    (project / "logs" / "s.csv").write_text("query\nred shoes\nred shoes\nblue hat\n")
    result = run_cli(project, "queries", "pull", "--source", "logs/s.csv", "--format", "csv", "--out", "queries/s.csv")
    assert result.returncode == 0, result.stderr
    assert "red shoes,2" in (project / "queries" / "s.csv").read_text()


def test_guidelines_regenerate_keeps_human_edits_unless_forced(project: Path) -> None:
    (project / "queries" / "two.csv").write_text("id,query,count,segment\na,sneakers,1,head\nb,red dress,1,tail\n")
    assert run_cli(project, "run", "-e", "v1", "-q", "queries/two.csv", "--top-k", "2").returncode == 0
    sneakers, dress = (guideline_path(project / "guidelines", q) for q in ("sneakers", "red dress"))
    original = dress.read_text()
    dress.write_text(original.replace("created:", "created: '1999-01-01T00:00:00+00:00'\nold_created:"))  # untouched content
    sneakers.write_text(sneakers.read_text() + "\nReviewer note: running shoes count.\n")
    result = run_cli(project, "guidelines", "regenerate")
    assert result.returncode == 0, result.stderr
    assert "rewrote 1 guideline(s)" in result.stdout and "kept 1 edited by hand" in result.stdout and sneakers.name in result.stdout
    assert "Reviewer note" in sneakers.read_text() and "1999" not in dress.read_text()
    forced = run_cli(project, "guidelines", "regenerate", "--query", "sneakers", "--force")
    assert forced.returncode == 0 and "rewrote 1 guideline(s)" in forced.stdout
    assert "Reviewer note" not in sneakers.read_text()


def test_short_version_flag(tmp_path: Path) -> None:
    from evalharness import __version__

    shown = _eh(tmp_path, "-V")
    assert shown.returncode == 0 and shown.stdout.strip() == f"evalharness {__version__}"


def test_shell_completion_knows_every_command_and_its_options(tmp_path: Path) -> None:
    """What `--install-completion` installs calls the command with _EVALHARNESS_COMPLETE set: it must see every
    command (they are registered lazily) and their options."""
    env = {"_EVALHARNESS_COMPLETE": "complete_bash", "COMP_WORDS": "evalharness ag", "COMP_CWORD": "1"}
    assert _eh(tmp_path, env=env).stdout.split() == ["agreement"]
    env |= {"COMP_WORDS": "evalharness compare --js", "COMP_CWORD": "2"}
    assert _eh(tmp_path, env=env).stdout.split() == ["--json"]
    script = _eh(tmp_path, "--show-completion", "bash")
    assert script.returncode == 0 and "_EVALHARNESS_COMPLETE" in script.stdout


def test_run_into_a_file_writes_no_progress_bars(project: Path) -> None:
    """stderr redirected to a file or pipe (CI logs): one plain line per stage, no bar frames or carriage returns."""
    result = run_cli(project, "run", "-e", "v1", "--top-k", "2")
    assert result.returncode == 0, result.stderr
    assert "━" not in result.stderr and "\r" not in result.stderr
    assert any(line.startswith("judge v1: ") and " of " in line for line in result.stderr.splitlines()), result.stderr
