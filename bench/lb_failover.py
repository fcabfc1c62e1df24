"""What a load balancer's config does to requests when a server stops, on real HAProxy (printed, not asserted).

Two backend servers on 127.0.0.1 behind HAProxy, clients sending GETs for a few seconds, one server closed
after a second. Measured twice: with Zato 3.2's backend as its template writes it (``create_lb.py``: no
``retries``, no ``option redispatch``, ``check inter 2s rise 2 fall 2``), and with the retries on another
server that ``harness preflight`` asks for. Prints, for each, requests sent and failed by status, and when the
failed requests were sent (seconds after the close) and how long each took.

Usage: python bench/lb_failover.py [--clients 6] [--seconds 6] [--json]
"""

from __future__ import annotations

import argparse
import http.server
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from harness.net import free_port

REDISPATCH = "    retries 3\n    option redispatch\n    retry-on conn-failure empty-response\n"


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ZATO_OK"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _config(port: int, servers: list[int], redispatch: bool) -> str:
    return ("global\n    maxconn 2000\n\ndefaults\n    option httpclose\n    mode http\n"
            "    timeout connect 15000\n    timeout client 15000\n    timeout server 15000\n"
            + (REDISPATCH if redispatch else "")
            + "\nbackend bck_http_plain\n    mode http\n    balance roundrobin\n"
            + "".join(f"    server http_plain--server{i} 127.0.0.1:{p} check inter 2s rise 2 fall 2\n"
                      for i, p in enumerate(servers, 1))
            + f"\nfrontend front_http_plain\n    mode http\n    default_backend bck_http_plain\n"
              f"    bind 127.0.0.1:{port}\n")


def one(redispatch: bool, clients: int, seconds: float) -> dict[str, object]:
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "zato.config"
        cfg.write_text(_config(port, [s.server_address[1] for s in servers], redispatch))
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        proc = subprocess.Popen([haproxy, "-f", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # HAProxy listening
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.02)
            statuses: Counter[str] = Counter()
            failed_at: list[float] = []
            took: list[float] = []
            closed = threading.Event()
            t_close = [0.0]
            stop = time.monotonic() + seconds

            def client() -> None:
                while time.monotonic() < stop:
                    sent = time.monotonic()
                    try:
                        code = str(requests.get(f"http://127.0.0.1:{port}/", timeout=30).status_code)
                    except requests.RequestException as exc:
                        code = type(exc).__name__
                    statuses[code] += 1
                    if code != "200" and closed.is_set():  # when the failed request was sent
                        failed_at.append(round(sent - t_close[0], 2))
                        took.append(time.monotonic() - sent)

            def close_one() -> None:
                time.sleep(1.0)
                t_close[0] = time.monotonic()
                closed.set()
                servers[1].shutdown()
                servers[1].server_close()

            threading.Thread(target=close_one, daemon=True).start()
            with ThreadPoolExecutor(clients) as pool:
                for _ in range(clients):
                    pool.submit(client)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            servers[0].shutdown()
    return {"config": "with retries on another server" if redispatch else "Zato 3.2's backend",
            "sent": sum(statuses.values()), "by_status": dict(statuses),
            "failed": sum(n for k, n in statuses.items() if k != "200"),
            "failures_sent_after_close_s": [min(failed_at, default=0.0), max(failed_at, default=0.0)],
            "failed_request_s_median": round(sorted(took)[len(took) // 2], 2) if took else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [one(r, args.clients, args.seconds) for r in (False, True)]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        first, last = r["failures_sent_after_close_s"]  # type: ignore[misc]
        print(f"{r['config']}: {r['failed']} failed of {r['sent']} sent {r['by_status']}"
              + (f", sent {first}-{last} s after the close, each answered after "
                 f"{r['failed_request_s_median']} s (median)" if r["failed"] else ""))


if __name__ == "__main__":
    main()
