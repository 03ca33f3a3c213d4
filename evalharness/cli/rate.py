"""`evalharness rate`: rate sampled pairs in a local web page; every label is stored as human:NAME."""

from __future__ import annotations

import re
import secrets
import socket
import sys
import webbrowser
from pathlib import Path

import typer

from evalharness.cli.ui import err, out
from evalharness.errors import EvalHarnessError
from evalharness.project import Project

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


def check_name(value: str, flag: str) -> str:
    """A rater or sample name: letters, digits, _ . @ - (it becomes part of the label source human:NAME)."""
    if not _NAME.match(value or ""):
        raise EvalHarnessError(f"{flag} {value!r} is not a usable name; use letters, digits, '_', '.', '@' or '-' "
                               "(up to 100 characters), e.g. {flag} ann".replace("{flag}", flag))
    return value


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0 picks a free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise EvalHarnessError(f"--host {host!r} is not an address of this machine; leave it out to use 127.0.0.1") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        raise EvalHarnessError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port (0 = any free port)") from None
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_interspersed_args": True})
    def rate(
        ctx: typer.Context,
        rater: str = typer.Option(..., "--as", help="Your name; labels are stored as human:NAME."),
        target: str | None = typer.Argument(None, metavar="[RUN|FILE]", help="The run or query-set file after --from run / queries."),
        name: str = typer.Option("gold", "--name", help="The rating sample to make or continue."),
        size: int | None = typer.Option(None, "--sample", min=1, help="Pairs to draw when the sample is new (default 200)."),
        source: str | None = typer.Option(None, "--from", help="disagreements (default), run RUN, or queries FILE."),
        raters: str | None = typer.Option(None, "--raters", help="Comma list of raters for a new sample (default: open to anyone)."),
        per_pair: int = typer.Option(2, "--per-pair", min=1, max=3, help="With --raters: how many raters see each pair."),
        seed: int | None = typer.Option(None, "--seed", help="Random seed of a new sample (stored with it)."),
        uniform: bool = typer.Option(False, "--uniform", help="Plain stratified sample: no extra weight on disagreements."),
        unit: str = typer.Option("pair", "--unit", help="pair, or query: draw whole queries (every hit of the runs' lists; "
                                                        "--sample counts queries), the gold set of compare --correct-with."),
        show_judge: bool = typer.Option(False, "--show-judge", help="Show the judges' labels (hidden by default)."),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default loopback only)."),
        port: int = typer.Option(8765, "--port", min=0, max=65535, help="Port (0 = any free port)."),
        no_open: bool = typer.Option(False, "--no-open", help="Print the URL but do not open a browser."),
    ) -> None:
        """Rate (query, product) pairs in a local page: one pair per screen, keys 1/2/3, s skip, u undo, ? help."""
        import uvicorn

        from evalharness.rating import samples as rating_samples
        from evalharness.rating.app import make_app
        from evalharness.rating.scheme import rating_scheme
        from evalharness.rating.session import RatingSession
        from evalharness.store import Store, rating

        check_name(rater, "--as")
        check_name(name, "--name")
        project = Project(ctx.obj["project"])
        scheme = rating_scheme(project.config)
        store = Store(project.store_url())
        try:
            sample = rating.get_sample(store, name)
            if sample is None:
                names = [check_name(r.strip(), "--raters") for r in raters.split(",")] if raters else []
                if names and rater not in names:
                    raise EvalHarnessError(f"--as {rater} is not in --raters {raters}; add yourself to the list")
                req = rating_samples.SampleRequest(name, size or 200, source or "disagreements", target, seed, names,
                                                   per_pair, uniform, unit)
                sample = rating_samples.create(store, Path(project.root), req, scheme)
                items = rating.sample_items(store, name)
                whole = f" of {len({it.query_key for it in items})} whole queries" if unit == "query" else ""
                err.print(f"new sample {name!r}: {len(items)} pairs{whole} drawn from {sample.pool_size} "
                          f"({sample.source}), seed {sample.seed}", markup=False)
                if unit == "query":
                    err.print(f"once rated, these gold queries correct comparisons: `evalharness compare BASE CAND --correct-with "
                              f"human:{rater}` (or the --gold NAME of `agreement --raters`); `evalharness agreement --human "
                              f"{rater} --runs BASE --runs CAND --plan 0.01` "
                              "says how many gold queries a target CI half-width needs", markup=False)
            elif any(v is not None for v in (size, source, raters, seed, target)) or uniform or unit != "pair":
                raise EvalHarnessError(f"sample {name!r} already exists (created {sample.created_at[:16]}); drop --sample/--from/"
                                       "--raters/--seed/--uniform to continue it, or pass --name NEW for a new sample")
            rating_samples.join(store, sample, rater)
            session = RatingSession(store, name, rater, scheme, show_judge)
            prog = rating.progress(store, name, rater)
            sock = bind(host, port)
            token = secrets.token_urlsafe(24)
            bound_host, bound_port = sock.getsockname()[:2]
            shown = f"[{bound_host}]" if ":" in bound_host else bound_host
            url = f"http://{shown}:{bound_port}/{token}/"
            out.print(url, markup=False, soft_wrap=True)
            err.print(f"rating {name!r} as {rater}: {prog.labelled} of {prog.total} labelled; Ctrl-C to stop "
                      "(every label is already stored)", markup=False)
            sys.stdout.flush()
            if not no_open:
                webbrowser.open(url)
            server = uvicorn.Server(uvicorn.Config(make_app(session, token), log_level="warning", access_log=False,
                                                   lifespan="off"))
            server.run(sockets=[sock])
        finally:
            store.close()


def rater_agreement(project_root: Path, raters: str, rating_sample: str, tie: str, gold: str | None, as_json: bool) -> None:
    """`agreement --raters A,B,C`: agreement between people on a rating sample, the gold label, judges vs gold."""
    import json

    from rich.table import Table

    from evalharness.cli.ui import fmt
    from evalharness.rating import samples as rating_samples
    from evalharness.rating.raters import check_raters
    from evalharness.rating.raters import rater_agreement as compute
    from evalharness.rating.scheme import rating_scheme
    from evalharness.store import Store

    names = [check_name(r.strip(), "--raters") for r in raters.split(",") if r.strip()]
    check_raters(names, tie)
    if gold is not None:
        check_name(gold, "--gold")
    project = Project(project_root)
    scheme = rating_scheme(project.config)
    store = Store(project.store_url())
    try:
        pairs = rating_samples.rated_pairs(store, rating_sample, names)
        report = compute(pairs, names, list(scheme.names), scheme.gains, tie)
        written = rating_samples.store_gold(store, gold, report.gold) if gold else None
    finally:
        store.close()
    if as_json:
        data = report.to_json()
        data["sample"] = rating_sample
        if written is not None:
            data["gold"]["stored_as"] = f"human:{gold}"
        out.print_json(json.dumps(data))
        return
    out.print(f"Raters {', '.join(names)} on sample {rating_sample!r}: {report.pairs} pairs rated, "
              f"{report.multi_rated} by two or more", markup=False)
    overall = Table(title="Agreement between raters (weighted = by the stored sampling weights)")
    for col in ("measure", "value", "weighted", "pairs"):
        overall.add_column(col, justify="left" if col == "measure" else "right")
    f, a = report.fleiss, report.alpha
    overall.add_row(f"Fleiss' kappa ({f['raters_per_pair']} raters per pair)", fmt(f["kappa"]), fmt(f["kappa_weighted"]), str(f["pairs"]))
    overall.add_row("Krippendorff's alpha (nominal)", fmt(a["nominal"]), "", str(a["pairs"]))
    overall.add_row("Krippendorff's alpha (ordinal)", fmt(a["ordinal"]), "", str(a["pairs"]))
    out.print(overall)
    pairwise = Table(title="Pairwise")
    for col in ("raters", "pairs", "agreement", "agreement (w)", "Cohen's kappa", "kappa (w)"):
        pairwise.add_column(col, justify="left" if col == "raters" else "right")
    for p in report.pairwise:
        pairwise.add_row(f"{p['a']} / {p['b']}", str(p["pairs"]), fmt(p["agreement"]), fmt(p["agreement_weighted"]),
                         fmt(p["kappa"]), fmt(p["kappa_weighted"]))
    out.print(pairwise)
    if report.judges:
        judges = Table(title="Judges vs the raters' gold label")
        for col in ("judge", "pairs", "accuracy", "accuracy (w)", "Cohen's kappa", "kappa (w)"):
            judges.add_column(col, justify="left" if col == "judge" else "right")
        for j in report.judges:
            judges.add_row(j["judge"], str(j["pairs"]), fmt(j["accuracy"]), fmt(j["accuracy_weighted"]), fmt(j["kappa"]),
                           fmt(j["kappa_weighted"]))
        out.print(judges)
    stored = f"; stored as human:{gold} ({written['new']} new, {written['changed']} changed)" if written else ""
    out.print(f"gold: {len(report.gold)} pairs by majority, {report.gold_ties} ties (tie rule: {tie}){stored}", markup=False)
