"""`evalharness demo` (what `make demo` runs) and the CLI's per-command registration."""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import assert_user_error, make_project, run_cli

from evalharness.cli.demo import STEPS, run_steps
from evalharness.cli.main import command_of
from evalharness.runtime.forked import usable_workers

REPORTS = ("compare-v1-v2.md", "compare-v2-v2-photos.md", "gate-v2-photos.md", "gate-v2-photos.xml")


def _masked(text: str) -> list[str]:
    """Output lines without what differs between two honest runs: run ids, times, progress bars, the step headers."""
    keep = [line.rstrip() for line in _masked_text(text).splitlines() if "━" not in line and not line.startswith("$ evalharness")
            and "passed over" not in line]
    return sorted(keep)


def _six_separately(project: Path) -> tuple[list[str], list[str]]:
    """The six commands, each in its own process, one after the other: (stdout + stderr, stdout) of each."""
    outputs, stdouts = [], []
    for step in STEPS:
        result = run_cli(project, *step)
        assert result.returncode == (1 if step[0] == "gate" else 0), result.stderr
        outputs.append(result.stdout + result.stderr)
        stdouts.append(result.stdout)
    return outputs, stdouts


def test_demo_runs_the_six_commands_with_their_outputs(tmp_path: Path, demo_dir: Path) -> None:
    separate, together = make_project(tmp_path / "sep", demo_dir), make_project(tmp_path / "one", demo_dir)
    _, stdouts = _six_separately(separate)
    demo = run_cli(together, "demo")  # on two or more cores: the runs at once, then compare, compare and gate at once
    assert demo.returncode == 0, demo.stderr  # the gate fails (LowQ@10) and the demo still completes
    assert "gate FAILED: v2 -> v2-photos" in demo.stdout
    assert [line for line in demo.stderr.splitlines() if line.startswith("$ evalharness")] == \
        [f"$ evalharness {' '.join(step)}" for step in STEPS]
    assert _in_order(demo.stdout, stdouts), "each step's stdout is shown whole, in step order"
    # The first time, the runs judged at once: a pair two of them share is judged by whichever gets there first, and
    # each run's own metrics are scored on the pool as it stood at its finish. Every run still accounts for every hit,
    # the store ends with the same judgments, and compare and gate, which read the runs after all of them, agree.
    for hits, new, cached in re.findall(r"(\d+) hits, (\d+) judged now, (\d+) from cache", demo.stdout):
        assert int(new) + int(cached) == int(hits)
    assert _judgments(together / ".evalharness" / "cache.db") == _judgments(separate / ".evalharness" / "cache.db")
    for name in REPORTS:
        assert _masked((together / "reports" / name).read_text()) == _masked((separate / "reports" / name).read_text()), name
    assert (together / "reports" / "compare-v1-v2.html").exists()
    # The second time everything is cached: the very same outputs as the six commands typed one after the other.
    outputs, _ = _six_separately(separate)
    again = run_cli(together, "demo")
    assert again.returncode == 0, again.stderr
    assert "0 judged now" in again.stdout and not re.search(r"\b[1-9]\d* judged now", again.stdout)
    assert _masked(again.stdout + again.stderr) == _masked("".join(outputs))


def _in_order(shown: str, outputs: list[str]) -> bool:
    """Whether each step's first and last stdout lines (run ids masked) appear in `shown` in step order."""
    at = 0
    masked = _masked_text(shown)
    for output in outputs:
        lines = [line for line in _masked_text(output).splitlines() if line.strip() and "━" not in line]
        for line in (lines[0], lines[-1]) if lines else ():
            found = masked.find(line, at)
            if found < 0:
                return False
            at = found
    return True


def _masked_text(text: str) -> str:
    """What differs between two honest runs masked: run ids, times, the project's folder, which run judged a pair."""
    text = re.sub(r"\d{8}T\d{6}-[0-9a-f]{4}", "RUN", text)
    text = re.sub(r"\d+ judged now, \d+ from cache", "N judged now, M from cache", text)
    # a stage's line when stderr is no terminal: what it did depends on which run judged a pair first, like the bar
    text = re.sub(r"(?m)^(.+): \d+ of \d+ in \d+\.\d s$", r"\1: N of M in T s", text)
    return re.sub(r"/\S*?/(proj|sep|one)/", "/P/", re.sub(r"\d+\.\ds — run", "T — run", text))


def test_one_slot_runs_the_steps_here_with_the_same_outputs(tmp_path: Path, demo_dir: Path, capsys) -> None:
    from evalharness.cli.main import app

    separate, here = make_project(tmp_path / "sep", demo_dir), make_project(tmp_path / "one", demo_dir)
    outputs = [run_cli(separate, *step) for step in STEPS]
    capsys.readouterr()
    assert run_steps(app, str(here), slots=1) == 0
    shown = capsys.readouterr()
    assert _masked(shown.out + shown.err) == _masked("".join(r.stdout + r.stderr for r in outputs))


def test_demo_stops_at_a_failing_step_with_its_exit_code(project: Path) -> None:
    (project / "engines" / "v0.toml").unlink()
    result = run_cli(project, "demo")
    assert_user_error(result, "v0")
    assert "$ evalharness run --engine-config v0" in result.stderr
    assert "$ evalharness compare" not in result.stderr  # nothing that reads the runs starts
    assert not (project / "reports" / "compare-v1-v2.md").exists()
    if usable_workers(os.cpu_count() or 1) > 1:  # the runs started at once: those under way end and are shown after it
        shown = result.stderr.index("$ evalharness run --engine-config v2-photos")
        assert shown > result.stderr.index("error: ") and "v2-photos (catalog" in result.stdout


def test_a_folder_that_is_no_project_or_a_bad_config_is_one_error_before_any_step(tmp_path: Path, project: Path) -> None:
    result = run_cli(tmp_path / "nowhere", "demo")  # not three steps each saying so at once
    assert_user_error(result, "is not an evalharness project")
    assert "$ evalharness" not in result.stderr
    (project / "evalharness.toml").write_text("[run\n")
    result = run_cli(project, "demo")
    assert_user_error(result, "evalharness.toml")
    assert "$ evalharness" not in result.stderr


def test_a_gate_error_is_passed_over_like_a_failure_and_any_other_error_stops(project: Path, capsys) -> None:
    from evalharness.cli.main import app
    from evalharness.errors import EvalHarnessError

    gate = ("gate", "--baseline", "nosuch", "--candidate", "v2", "--markdown", "reports/g.md", "--junit", "reports/g.xml")
    assert run_steps(app, str(project), (gate,)) == 0  # what make's `-` prefix did for the gate
    err = capsys.readouterr().err
    assert "error: " in err and "nosuch" in err and "(the gate could not decide: its exit 2 is passed over)" in err
    with pytest.raises(EvalHarnessError, match="nosuch"):  # one slot: the steps run here, main shows the error
        run_steps(app, str(project), (("compare", "nosuch", "v2"), gate), slots=1)
    assert "$ evalharness gate" not in capsys.readouterr().err


def test_the_collector_is_left_as_it_was_found_after_the_steps(project: Path) -> None:
    import gc

    from evalharness.cli.main import app
    from evalharness.errors import EvalHarnessError

    before = gc.get_threshold()
    gate = ("gate", "--baseline", "nosuch", "--candidate", "v2", "--markdown", "reports/g.md", "--junit", "reports/g.xml")
    assert run_steps(app, str(project), (gate,)) == 0
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    with pytest.raises(EvalHarnessError):
        run_steps(app, str(project), (("compare", "nosuch", "v2"),), slots=1)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def _judgments(db: Path) -> int:
    if not db.exists():
        return 0
    with closing(sqlite3.connect(db)) as con:
        try:
            return con.execute("SELECT count(*) FROM judgments").fetchone()[0]
        except sqlite3.OperationalError:  # the store is being created
            return 0


def test_ctrl_c_stops_the_demo_with_130(project: Path) -> None:
    # Ctrl-C reaches the child as from a terminal even when pytest itself runs in a shell's background
    with_ctrl_c = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                   "sys.argv[0] = 'evalharness'; runpy.run_module('evalharness', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", with_ctrl_c, "-C", str(project), "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    while not _judgments(project / ".evalharness" / "cache.db"):  # the first step is judging
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "Traceback" not in err
    assert "error:" not in err  # no step failed on the way out (an interrupted write once held the store's lock)
    assert "$ evalharness gate" not in err  # no later step ran


def test_command_of_finds_the_sub_command_after_global_options() -> None:
    assert command_of(["-C", "proj", "run", "-e", "v2"]) == "run"
    assert command_of(["--project=proj", "gate", "-b", "v1"]) == "gate"
    assert command_of(["--help"]) is None and command_of(["--version"]) is None and command_of([]) is None


def test_help_lists_every_command(project: Path) -> None:
    result = run_cli(project, "--help")
    assert result.returncode == 0, result.stderr
    for name in ("init", "run", "compare", "gate", "demo", "runs", "labels", "agreement", "queries", "images", "store",
                 "batches"):
        assert re.search(rf"^\s+{name}\s", result.stdout, re.M), name
