import sys

if sys.argv[1:] in (["--version"], ["-V"]):  # answered before the CLI (typer, pydantic, rich) is imported
    from evalharness import __version__

    print(f"evalharness {__version__}")
    raise SystemExit(0)

from evalharness.cli.entry import main  # noqa: E402

main()
