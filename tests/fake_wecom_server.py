"""A local fake of the WeCom server API over real HTTP (timeouts, hangs and latency are real).

Answers gettoken, message/send, message/update_template_card and media/upload under /cgi-bin/, after `delay`
seconds; `hang()` makes it accept connections and never answer until `recover()`. Records every
request path and every message body. Used by tests/test_relay*.py and bench/bench_relay.py.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

__all__ = ["FakeWeComServer"]


class FakeWeComServer:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.paths: list[str] = []
        self.sent: list[dict] = []
        self.sent_at: list[float] = []
        self.uploads: list[bytes] = []     # media/upload request bodies (multipart), in order
        self._up = threading.Event()
        self._up.set()
        self._n = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _answer(self, body: bytes) -> None:
                path = urlparse(self.path).path
                with fake._lock:
                    fake.paths.append(path)
                while not fake._up.wait(0.05):
                    if fake._closing:
                        return
                if fake.delay:
                    time.sleep(fake.delay)
                out: dict = {"errcode": 0, "errmsg": "ok"}
                if path.endswith("/media/upload"):
                    with fake._lock:
                        fake.uploads.append(body)
                        out.update(type="file", media_id=f"MEDIA{len(fake.uploads)}", created_at="1380000000")
                elif path.endswith("/gettoken"):
                    out.update(access_token="LOCALTOKEN", expires_in=7200)
                elif path.endswith("/message/send"):
                    n = next(fake._n)
                    data = json.loads(body or b"{}")
                    with fake._lock:
                        fake.sent.append(data)
                        fake.sent_at.append(time.monotonic())
                    out.update(msgid=f"LOCAL{n}", invaliduser="")
                    if data.get("msgtype") == "template_card":
                        out["response_code"] = f"RC{n}"
                raw = json.dumps(out).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass   # the client gave up (timeout) meanwhile

        self._closing = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="fake-wecom")

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/"

    def start(self) -> FakeWeComServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._closing = True
        self._up.set()
        self.server.shutdown()
        self.server.server_close()

    def hang(self) -> None:
        """Accept connections, never answer (until recover)."""
        self._up.clear()

    def recover(self) -> None:
        self._up.set()

    def to(self, user: str) -> list[dict]:
        return [m for m in list(self.sent) if user in m.get("touser", "").split("|")]

    def __enter__(self) -> FakeWeComServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":   # a separate process for benchmarks: its CPU is not the relay's
    import sys

    server = FakeWeComServer(delay=float(sys.argv[1]) if len(sys.argv) > 1 else 0.05).start()
    print(server.api_base, flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        pass
