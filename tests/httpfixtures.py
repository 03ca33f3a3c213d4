"""Small loopback HTTP servers used by tests: a header-rewriting proxy in front of osmem, and a JSON search API."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ES_MEDIA = "application/vnd.elasticsearch+"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def _start(handler: type[BaseHTTPRequestHandler]) -> tuple[_Server, str]:
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def start_proxy(upstream: str, *, rewrite_es: bool, require_auth: str | None = None) -> tuple[_Server, str]:
    """Forward to upstream. rewrite_es: turn the Elasticsearch 9 client's compatible-with media types into plain
    JSON (osmem rejects them). require_auth: answer 401 unless the
    Authorization header equals it."""
    target = urlsplit(upstream)

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if require_auth is not None and self.headers.get("Authorization") != require_auth:
                payload = b'{"error":{"type":"security_exception","reason":"unauthorized"},"status":401}'
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if rewrite_es:
                    self.send_header("X-Elastic-Product", "Elasticsearch")
                self.end_headers()
                self.wfile.write(payload)
                return
            headers = {}
            for key, value in self.headers.items():
                if key.lower() in ("host", "content-length", "connection"):
                    continue
                if rewrite_es and key.lower() in ("accept", "content-type") and ES_MEDIA in value:
                    value = "application/x-ndjson" if "x-ndjson" in value else "application/json"
                headers[key] = value
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for key, value in resp.getheaders():  # osmem already sends X-Elastic-Product, as Elasticsearch does
                if key.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

    return _start(Proxy)


def start_search_api(products: list[dict[str, Any]], token: str, script: list[str] | None = None,
                     hang_s: float = 3.0) -> tuple[_Server, str]:
    """A tiny in-house search API: GET /search?q=...&n=... with a bearer token; word-overlap ranking.

    script: what the n-th request for each query gets ("503", "hang" = answer after hang_s, "ok"); the last
    entry repeats. The server's `seen` attribute counts requests per query."""
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self._send(401, {"error": "unauthorized"})
            if url.path == "/boom":
                return self._send(500, {"error": "boom"})
            args = parse_qs(url.query)
            query = args.get("q", [""])[0]
            with lock:
                nth = seen[query]
                seen[query] += 1
            action = script[min(nth, len(script) - 1)] if script else "ok"
            if action == "503":
                return self._send(503, {"error": "overloaded"})
            if action == "hang":  # the client has given up by then: its socket may be closed
                time.sleep(hang_s)
                try:
                    return self._send(200, {"total": 0, "results": []})
                except OSError:
                    return None
            words = set(query.lower().split())
            n = int(args.get("n", ["10"])[0])
            scored = []
            for p in products:
                overlap = len(words & set(p["title"].lower().split()))
                if overlap:
                    scored.append((overlap, p["id"], p))
            scored.sort(key=lambda x: (-x[0], x[1]))
            results = [{"score": s, "product": {"sku": p["id"], "name": p["title"], "brand": {"name": p["brand"]}, "colour": p["color"],
                                                 "price": p["price"], "type": p["product_type"]}} for s, _, p in scored[:n]]
            if url.path == "/nan" and results:  # a service whose scores are NaN (JSON has no NaN; Python's encoder writes it)
                results[0]["score"] = float("nan")
            return self._send(200, {"total": len(scored), "results": results})

    server, url = _start(Api)
    server.seen = seen  # type: ignore[attr-defined]
    return server, url
