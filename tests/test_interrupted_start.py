"""Ctrl-C at any moment of a command: one line and exit 130, never a traceback (also while the CLI's modules load,
and when it leaves a read of the store unfinished)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from evalharness.cli.main import interrupted_line
from evalharness.store import Store
from evalharness.store.rawrows import raw_sql_rows

REPO = Path(__file__).resolve().parents[1]

# Ctrl-C lands while one module loads: a finder ahead of the others raises it when that module is first imported
INTERRUPT_AT = """
import sys
AT = sys.argv[1]
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == AT:
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ['evalharness', *sys.argv[2:]]
from evalharness.cli.entry import main
main()
"""


def _interrupted_at(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", INTERRUPT_AT, module, *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_ctrl_c_while_the_cli_loads_is_one_line_and_130() -> None:
    done = _interrupted_at("typer", "compare", "v1", "v2")
    assert done.returncode == 130, done.stderr
    assert done.stderr == "interrupted: evalharness stopped while starting; nothing was changed\n"


def test_ctrl_c_while_the_command_loads_is_one_line_and_130(tmp_path: Path) -> None:
    done = _interrupted_at("evalharness.cli.compare", "-C", str(tmp_path), "compare", "v1", "v2")
    assert done.returncode == 130, done.stderr
    assert done.stderr == interrupted_line("compare") + "\n"


def test_the_interrupted_line_names_what_is_kept() -> None:
    assert "run is marked interrupted" in interrupted_line("run") and "run is marked" in interrupted_line("demo")
    compare = interrupted_line("compare")
    assert compare.startswith("interrupted: compare stopped") and "run" not in compare.split(";")[0]


def test_a_read_left_unfinished_on_a_connection_closed_under_it_ends_quietly(tmp_path: Path) -> None:
    # Ctrl-C invalidated the connection (closing the driver's) while a bulk read was suspended; finalizing the read
    # closed its cursor on the closed connection and Python printed "Exception ignored in ... ProgrammingError"
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    with store.engine.connect() as conn:
        rows = raw_sql_rows(conn, "SELECT name FROM sqlite_master", [], batch=1)
        assert next(rows)
        conn.invalidate()
        rows.close()  # runs the read's cleanup now, as the garbage collector would
    store.close()
