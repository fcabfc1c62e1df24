"""A threaded HTTP server that stops the way a Zato component stops.

On stop it closes the listening socket first (new connections are refused, so a load balancer
retries them elsewhere), then waits for the requests already being handled, then returns.
"""

from __future__ import annotations

import http.server
import threading


class GracefulHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = False  # track request threads so server_close() joins them
    block_on_close = True
    allow_reuse_address = True


class QuietHandler(http.server.BaseHTTPRequestHandler):
    server_version = "Zato"
    sys_version = ""
    protocol_version = "HTTP/1.0"  # one request per connection: nothing idle to cut at stop time

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def reply(self, status: int, body: bytes = b"", content_type: str = "text/plain",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)


class EmptyOKHandler(QuietHandler):
    """``GET /`` and ``POST /`` → 200 with an empty body (web-admin, scheduler, LB agent pings)."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.reply(200 if self.path.split("?")[0] == "/" else 404)

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.reply(200 if self.path.split("?")[0] == "/" else 404)


def serve(httpd: GracefulHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              name="http-acceptor", daemon=True)
    thread.start()
    return thread


def stop(httpd: GracefulHTTPServer) -> None:
    """Stop accepting, close the listening socket, then wait for in-flight requests."""
    httpd.shutdown()
    httpd.server_close()
