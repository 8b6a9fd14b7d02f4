"""A real webhook receiver for the alerts of a local VPS (kewp_host_alert_webhook_url).

A small HTTP server on this machine's end of the VPS's link (conftest.link_ip), which the VPS
reaches directly; it keeps the JSON body of every POST and answers 200.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .conftest import link_ip


@dataclass
class Receiver:
    """A webhook receiver: its URL and the JSON bodies POSTed to it."""

    url: str
    posts: list[dict] = field(default_factory=list)


@contextmanager
def webhook_receiver(vps_address: str, port: int) -> Iterator[Receiver]:
    """A receiver for the VPS at `vps_address` on PORT of the link, while the block runs."""
    posts: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            posts.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    ip = link_ip(vps_address)
    server = ThreadingHTTPServer((ip, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://{ip}:{port}/hooks/kewp", posts)
    finally:
        server.shutdown()
        server.server_close()
