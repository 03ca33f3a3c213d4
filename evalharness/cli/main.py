"""The evalharness command: global options, sub-commands and the one place errors are shown."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from evalharness.errors import EXIT_USAGE, EvalHarnessError, redact

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Search evaluation: retrieve, annotate with a judge, evaluate, compare, gate.")


@app.callback()
def _root(ctx: typer.Context,
          project: Path = typer.Option(Path("."), "--project", "-C", help="Project folder (default: current directory).")
          ) -> None:
    ctx.obj = {"project": project.resolve()}


def _register() -> None:
    from evalharness.cli import agreement, compare, disagreements, index, init, labels, prompts, queries, rate, report, run, runs

    for module in (init, run, index, compare, runs, report, disagreements, rate):
        module.register(app)
    labels.register(app)
    agreement.register(app)
    app.add_typer(queries.app, name="queries", help="Build query sets from search logs.")
    app.add_typer(prompts.app, name="prompts", help="Own the judge's prompt templates: copy them into prompts/.")


def main() -> None:
    """Entry point: EvalHarnessError -> one line on stderr and exit 2; EVALHARNESS_DEBUG=1 shows tracebacks."""
    _register()
    debug = os.environ.get("EVALHARNESS_DEBUG") == "1"
    try:
        app(prog_name="evalharness")
    except EvalHarnessError as exc:
        if debug:
            raise
        print(f"error: {redact(exc.message)}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted: every judgment made so far is stored; run again to continue", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {redact(str(exc)).splitlines()[0] if str(exc) else ''} "
              "(rerun with EVALHARNESS_DEBUG=1 for a traceback and report it)", file=sys.stderr)
        sys.exit(EXIT_USAGE)
