"""The evalharness command: global options, sub-commands and the one place errors are shown."""

from __future__ import annotations

import errno
import importlib
import os
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType

import typer
from typer._click import exceptions as click_exceptions

from evalharness import __version__
from evalharness.errors import EXIT_INTERRUPTED, EXIT_USAGE, EvalHarnessError, redact
from evalharness.runtime.gcpause import gc_paused

GLOBAL_OPTIONS = ("-C", "--project")

# rich_markup_mode=None: help text is printed as written, so "[run] queries" or "[[gate.rules]]" stay literal.
app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Search evaluation: retrieve, annotate with a judge, evaluate, compare, gate.")


def _show_version(value: bool) -> None:
    if value:
        print(f"evalharness {__version__}")
        raise typer.Exit()


@app.callback()
def _root(ctx: typer.Context,
          project: Path = typer.Option(Path("."), "--project", "-C",
                                       help="Project folder (default: current directory); also accepted after the command."),
          version: bool = typer.Option(False, "--version", "-V", is_eager=True, callback=_show_version,
                                       help="Print the version and exit."),
          ) -> None:
    ctx.obj = {"project": project.expanduser().resolve()}


# Sub-command -> the module that defines it. A module with `register(app)` adds its commands; one with a Typer
# `app` is added as a group with this help. Only the invoked command's module is imported (imports are most of a
# short command's time); help and unknown commands import them all, in this order.
_MODULES: dict[str, str | None] = {
    "init": None, "run": None, "index": None, "compare": None, "runs": None, "report": None, "disagreements": None,
    "rate": None, "labels": None, "agreement": None, "demo": None,
    "queries": "Build query sets from search logs.",
    "prompts": "Own the judge's prompt templates: copy them into prompts/.",
    "images": "Image quality 1-5 with reasons, and agreement with people.",
    "guidelines": "Rewrite per-query guidelines on request.",
    "store": "Maintain the store (schema upgrades).",
    "batches": "Provider batches of `run --batch`: status, collect.",
}
_MODULE_OF = {"gate": "compare"}  # commands defined in another command's module
_registered: set[str] = set()


def ensure_registered(commands: list[str] | None = None) -> None:
    """Register the modules of these sub-commands with `app` (every module when None or one is unknown); idempotent."""
    names = [_MODULE_OF.get(c, c) for c in commands or []]
    if not commands or any(n not in _MODULES for n in names):
        names = list(_MODULES)
    for name in names:
        if name in _registered:
            continue
        module = importlib.import_module(f"evalharness.cli.{name}")
        group_help = _MODULES[name]
        if group_help is None:
            module.register(app)
        else:
            app.add_typer(module.app, name=name, help=group_help)
        _registered.add(name)


def command_of(args: list[str]) -> str | None:
    """The sub-command named in hoisted arguments (None for `--help`, `--version` or none)."""
    i = 0
    while i < len(args):
        if args[i] in GLOBAL_OPTIONS:
            i += 2
        elif args[i].startswith("-"):
            return None if args[i] in ("-h", "--help", "--version", "-V") else command_of(args[i + 1:])
        else:
            return args[i]
    return None


def hoist_global_options(args: list[str]) -> list[str]:
    """Move `-C DIR` / `--project DIR` / `--project=DIR` given after the command in front of it, where the
    root callback reads them (`evalharness run -e v2 -C proj` == `evalharness -C proj run -e v2`)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        if arg in GLOBAL_OPTIONS and i + 1 < len(args):
            front += [arg, args[i + 1]]
            i += 2
            continue
        if arg.startswith("--project="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGTERM does what Ctrl-C does: whatever handles SIGINT right now (asyncio's runner cancels the judging
    task; elsewhere a KeyboardInterrupt) ends the run as `interrupted`."""
    handler = signal.getsignal(signal.SIGINT)
    if not callable(handler):  # SIGINT ignored or default at the C level: still stop like Ctrl-C would
        raise KeyboardInterrupt
    handler(signal.SIGINT, frame)


def _report(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"error: {redact(message)}", file=sys.stderr)
    return code


def invoke(args: list[str], debug: bool = False) -> int:
    """Run one command line (global options already hoisted) and return its exit code. EvalHarnessError and usage
    errors -> one line on stderr and 2 (with `debug`, the traceback before it); Ctrl-C -> 130 without a word."""
    try:
        code = app(args=args, prog_name="evalharness", standalone_mode=False)
    except EvalHarnessError as exc:
        return _report(exc.message, exc.exit_code, debug)
    except click_exceptions.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        return EXIT_USAGE
    except click_exceptions.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        return _report(f"{exc.format_message()}{where}", EXIT_USAGE, debug)
    except click_exceptions.ClickException as exc:
        return _report(exc.format_message(), exc.exit_code, debug)
    except (KeyboardInterrupt, typer.Abort):
        return EXIT_INTERRUPTED
    except OSError as exc:  # a file the command needed: named, with what the system said (a full disk, permissions)
        where = f" {exc.filename}" if exc.filename else ""
        hint = "free some space and run again" if exc.errno == errno.ENOSPC else "check the path and its permissions"
        return _report(f"cannot read or write{where}: {exc.strerror or exc}; {hint}", EXIT_USAGE, debug)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        return _report(f"unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                       "(rerun with EVALHARNESS_DEBUG=1 for a traceback and report it)", EXIT_USAGE, debug)
    return code if isinstance(code, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Entry point: `invoke` the command line; Ctrl-C and SIGTERM end with one line and exit 130."""
    debug = os.environ.get("EVALHARNESS_DEBUG") == "1"
    # numpy's OpenBLAS starts a thread per core at import, and they spin: ~0.08 s of CPU for a short command. Nothing
    # here multiplies matrices large enough to gain from them; a value set by the user is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    signal.signal(signal.SIGTERM, _on_sigterm)
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    command = command_of(args)
    completing = any(k.startswith("_EVALHARNESS_COMPLETE") or k == "_TYPER_COMPLETE_ARGS" for k in os.environ)
    if command is None and not completing and {"--version", "-V"} & set(args) and not {"-h", "--help"} & set(args):
        print(f"evalharness {__version__}")  # no command module (config, store, pipeline) is imported for it
        sys.exit(0)
    try:
        with gc_paused():  # importing the command's modules builds long-lived objects, not garbage: no collector passes
            ensure_registered([command] if command and not completing else None)  # completion needs every command
    except KeyboardInterrupt:  # Ctrl-C (or SIGTERM) while they load: nothing ran yet
        code = EXIT_INTERRUPTED
    else:
        code = invoke(args, debug)
    if code == EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into exit code 130 without a word
        print(interrupted_line(command), file=sys.stderr)
    if argv is None:
        leave(code)
    sys.exit(code)


RUNNING_COMMANDS = ("run", "demo")  # the commands that store a run (and mark it interrupted)


def interrupted_line(command: str | None) -> str:
    """The one line printed after Ctrl-C or SIGTERM: what a command that stores runs keeps, or, for any other
    command, that what it finished is kept."""
    if command in RUNNING_COMMANDS:
        return "interrupted: the run is marked interrupted and every judgment made so far is stored; run again to continue"
    return f"interrupted: {command or 'the command'} stopped; what it finished (judgments, scores, files) is kept"


def leave(code: int) -> None:
    """End the process with `code` the quick way when the command is over and no other thread runs: exit handlers
    run and output is flushed, then the process ends without the interpreter's teardown (a last garbage collection
    and every module freed one by one: ~0.2-0.3 s of CPU after a run, paid by every command). Falls back to the
    usual exit when a thread is still running (it is joined there) or the output cannot be flushed (so Python
    reports it as usual)."""
    import atexit
    import threading

    if threading.active_count() > 1 or os.environ.get("EVALHARNESS_FULL_EXIT") == "1":
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)
