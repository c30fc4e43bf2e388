"""The node's HTTP server on the metrics port: /metrics, /healthz, /readyz, /status, /api/v1/...; 404 otherwise.

One small threaded server in the node's main process (not prometheus-client's), so that the metrics, the
probes and the status page share one port and one bind address (``metrics.host``: loopback by default).
Read-only, except the optional quarantine retry/purge, which needs ``web.admin_token_file`` and the token.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import ConfigError
from ..logging import get_logger
from ..quarantine import list_entries, purge_entry, retry_entry
from . import page
from .status import NodeStatus

log = get_logger("web")

_KNOWN = {"/metrics", "/healthz", "/readyz", "/status", "/api/v1/status", "/api/v1/quarantine"}
MAX_BODY = 64 * 1024
MIN_TOKEN_LENGTH = 16
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def read_admin_token(path: Path) -> str:
    """The admin token from ``web.admin_token_file``; a config error if unreadable or too short."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config error: web.admin_token_file: cannot read {path}: {e}") from None
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"config error: web.admin_token_file: the token must be at least {MIN_TOKEN_LENGTH} characters"
        )
    return token


class Admin:
    """Retry or purge quarantine entries (the same functions as ``deidnode quarantine retry|purge``)."""

    def __init__(self, token: str, quarantine_root: Path, spool: Any) -> None:
        self._token = token.encode()
        self.root = quarantine_root
        self.spool = spool

    def authorized(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self._token)

    def apply(self, action: str, ids: list[str]) -> dict[str, list[str]]:
        done, missing = [], []
        for qid in ids:
            try:
                if action == "retry":
                    retry_entry(self.root, qid, self.spool)
                else:
                    purge_entry(self.root, qid)
                done.append(qid)
            except KeyError:
                missing.append(qid)
        log.info(f"quarantine_{action}", extra={"done": len(done), "missing": len(missing), "via": "web"})
        return {"done": done, "missing": missing}


class WebServer:
    """Serves the node's pages on ``host:port`` from daemon threads; :meth:`start` returns the bound port."""

    def __init__(
        self,
        host: str,
        port: int,
        status: NodeStatus,
        exposition: Callable[[str], tuple[bytes, str]],
        admin: Admin | None = None,
    ) -> None:
        self.status = status
        self.exposition = exposition
        self.admin = admin
        self._stop = threading.Event()
        handler = type("Handler", (_Handler,), {"web": self})
        self.httpd = ThreadingHTTPServer((host, port), handler, bind_and_activate=False)
        self.httpd.daemon_threads = True
        self._threads: list[threading.Thread] = []

    def start(self) -> int:
        """Bind and serve; raises OSError when the port cannot be bound."""
        try:
            self.httpd.server_bind()
            self.httpd.server_activate()
        except OSError:
            self.httpd.server_close()
            raise
        self.status.throughput.sample()
        self._threads = [
            threading.Thread(target=self.httpd.serve_forever, args=(0.25,), name="web", daemon=True),
            threading.Thread(target=self._sample_loop, name="web-sampler", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return int(self.httpd.server_address[1])

    def _sample_loop(self) -> None:
        while not self._stop.wait(self.status.throughput.every):
            try:
                self.status.throughput.sample()
            except Exception as e:  # noqa: BLE001 - a failed reading only leaves a gap in the history
                log.warning("throughput_sample_failed", extra={"exc_type": type(e).__name__})

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(5)
        self.status.close()


class _Handler(BaseHTTPRequestHandler):
    web: WebServer
    server_version = "deidnode"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # probes every few seconds would flood the log; nothing here is worth a line

    def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code: int, data: Any) -> None:
        self._send(code, json.dumps(data, indent=1).encode() + b"\n", "application/json")

    def _not_found(self) -> None:
        self._send(
            HTTPStatus.NOT_FOUND,
            b"not found: try /status, /api/v1/status, /metrics, /healthz, /readyz\n",
            "text/plain; charset=utf-8",
        )

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        path = url.path
        web = self.web
        try:
            if path == "/metrics":
                body, ctype = web.exposition(self.headers.get("Accept", ""))
                self._send(HTTPStatus.OK, body, ctype)
            elif path in ("/healthz", "/readyz"):
                ok, health = web.status.health() if path == "/healthz" else web.status.readiness()
                self._json(HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE, health)
            elif path == "/api/v1/status":
                self._json(HTTPStatus.OK, web.status.snapshot())
            elif path == "/api/v1/quarantine":
                entries = list_entries(web.status.settings.quarantine_path)
                keys = ("id", "stage", "code", "time")
                self._json(HTTPStatus.OK, [{k: e.get(k, "") for k in keys} for e in reversed(entries)])
            elif path == "/status":
                q = parse_qs(url.query)
                notice = ""
                for action in ("retried", "purged"):
                    n = q.get(action, [""])[0]
                    if n.isdigit():
                        notice = f"{action} {int(n)}"
                html = page.render(web.status.snapshot(), admin=web.admin is not None, notice=notice)
                self._send(HTTPStatus.OK, html.encode(), "text/html; charset=utf-8")
            else:
                self._not_found()
        except Exception as e:  # noqa: BLE001 - a failing page must not take the server down
            log.error("web_error", extra={"path": path if path in _KNOWN else "other", "exc_type": type(e).__name__})
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b"internal error\n", "text/plain; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        action = {"/api/v1/quarantine/retry": "retry", "/api/v1/quarantine/purge": "purge"}.get(path)
        admin = self.web.admin
        if action is None or admin is None:
            self._not_found()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"too large\n", "text/plain")
            return
        raw = self.rfile.read(length)
        bearer = self.headers.get("Authorization", "")
        from_form = not bearer.startswith("Bearer ")
        try:
            if from_form:
                form = parse_qs(raw.decode("utf-8"))
                token, ids = form.get("token", [None])[0], form.get("id", [])
            else:
                token, ids = bearer.removeprefix("Bearer ").strip(), list(json.loads(raw or b"{}").get("ids", []))
        except (ValueError, AttributeError):
            self._send(HTTPStatus.BAD_REQUEST, b"bad request\n", "text/plain")
            return
        if not admin.authorized(token):
            log.warning("admin_refused", extra={"action": action})
            self._send(HTTPStatus.FORBIDDEN, b"forbidden\n", "text/plain")
            return
        result = admin.apply(action, [str(i) for i in ids])
        if from_form:
            done = "retried" if action == "retry" else "purged"
            self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": f"/status?{done}={len(result['done'])}"})
        else:
            self._json(HTTPStatus.OK, result)
