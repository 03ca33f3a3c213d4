"""The command's entry point: Ctrl-C while the CLI's own modules load ends as a Ctrl-C later does (one line, 130)."""

from __future__ import annotations

import sys

from evalharness.errors import EXIT_INTERRUPTED


def main() -> None:
    """Import the command line and run it. A Ctrl-C during the import (the first ~0.1 s) printed a traceback."""
    try:
        from evalharness.cli.main import main as run_command_line
    except KeyboardInterrupt:
        print("interrupted: evalharness stopped while starting; nothing was changed", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    run_command_line()
