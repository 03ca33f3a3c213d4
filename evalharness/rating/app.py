"""The rating page as a small ASGI app (Starlette), served by uvicorn on loopback.

Everything lives under /<token>/: any other path answers 403, so other users of the machine cannot read or
write labels without the URL the command printed. The page is one HTML document whose script and style carry
a per-response nonce under a strict Content-Security-Policy (no other script, style, frame, form target or
network destination); it fetches the pair as JSON and builds the DOM with textContent only, so catalog text
is never parsed as HTML. Product images are read from the catalog's local files and re-encoded as JPEG by
Pillow before they are served, so an image file cannot smuggle markup either.
"""

from __future__ import annotations

import io
import json
import secrets
from importlib import resources
from typing import Any

from jinja2 import Environment, select_autoescape
from PIL import Image, UnidentifiedImageError
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from evalharness.rating.session import ActionRefused, RatingSession, image_path
from evalharness.report.html import safe_json
from evalharness.store import rating

IMAGE_MAX_SIDE = 720
FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1a73e8"/>'
           '<path d="M4 8l3 3 5-6" stroke="#fff" stroke-width="2" fill="none"/></svg>')
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}


def _asset(name: str) -> str:
    return resources.files("evalharness.rating").joinpath(name).read_text(encoding="utf-8")


def csp(nonce: str) -> str:
    """Only this response's own script and style; images and requests back to this server; nothing else."""
    return (f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self'; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class TokenGate:
    """ASGI middleware: requests outside /<token>/ get 403 (compared in constant time)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            first = scope.get("path", "/").lstrip("/").split("/", 1)[0]
            if not secrets.compare_digest(first.encode(), self.token.encode()):
                await PlainTextResponse("403 forbidden: open the URL that `evalharness rate` printed (it carries the token)",
                                        status_code=403, headers=SECURITY_HEADERS)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=SECURITY_HEADERS)


def make_app(session: RatingSession, token: str) -> ASGIApp:
    """The ASGI app for one rater's session, reachable only under /<token>/."""
    page = Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string(_asset("page.html"))
    script, style = _asset("page.js"), _asset("page.css")

    def index(request: Request) -> Response:
        nonce = secrets.token_urlsafe(18)
        body = page.render(nonce=nonce, rater=session.rater, sample=session.sample, script=script, style=style,
                           scheme_json=safe_json(session.scheme.to_json()))
        return HTMLResponse(body, headers={**SECURITY_HEADERS, "Content-Security-Policy": csp(nonce)})

    def state(request: Request) -> Response:
        return _json(session.state())

    async def _body(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise ActionRefused("send JSON")
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ActionRefused("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise ActionRefused("the request body must be a JSON object")
        return data

    def _item(data: dict[str, Any]) -> int:
        item = data.get("item")
        if not isinstance(item, int) or isinstance(item, bool):
            raise ActionRefused("'item' must be an integer")
        return item

    async def act(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        action = request.path_params["action"]
        try:
            data = await _body(request)
            if action == "label":
                note = data.get("note") or ""
                result = await run_in_threadpool(session.label, _item(data), str(data.get("label", "")),
                                                 note if isinstance(note, str) else "")
            elif action == "skip":
                result = await run_in_threadpool(session.skip, _item(data))
            elif action == "undo":
                result = await run_in_threadpool(session.undo)
            else:
                return _json({"error": f"unknown action {action!r}"}, 404)
        except ActionRefused as exc:
            return _json({"error": str(exc), "state": await run_in_threadpool(session.state)}, 409)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
            return _json({"error": f"not saved: the store refused the write ({reason}); try again"}, 503)
        return _json(result)

    def image(request: Request) -> Response:
        item = rating.get_item(session.store, session.sample, request.path_params["item"])
        path = image_path(item) if item is not None else None
        if path is None or not rating.is_assigned(session.store, session.sample, session.rater, item.item):
            return PlainTextResponse("no image", status_code=404, headers=SECURITY_HEADERS)
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                img.thumbnail((IMAGE_MAX_SIDE, IMAGE_MAX_SIDE))
                buf = io.BytesIO()
                img.save(buf, format="JPEG", quality=85)
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            return PlainTextResponse("image unreadable", status_code=404, headers=SECURITY_HEADERS)
        return Response(buf.getvalue(), media_type="image/jpeg", headers=SECURITY_HEADERS)

    def favicon(request: Request) -> Response:
        return Response(FAVICON, media_type="image/svg+xml", headers=SECURITY_HEADERS)

    def to_slash(request: Request) -> Response:
        return RedirectResponse(f"/{token}/", headers=SECURITY_HEADERS)

    routes = [
        Route(f"/{token}", to_slash),
        Mount(f"/{token}", routes=[
            Route("/", index),
            Route("/api/state", state),
            Route("/api/{action}", act, methods=["POST"]),
            Route("/img/{item:int}", image),
            Route("/favicon.svg", favicon),
        ]),
    ]
    return TokenGate(Starlette(routes=routes), token)
