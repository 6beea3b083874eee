"""`blockwatch watch` as a vantage runs it: rounds on a schedule, a line per round, uploads
to a real collector, a clean stop on SIGTERM."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from observatory import Server, free_port

from blockwatch.store import Store


@pytest.fixture
def origin() -> Iterator[str]:
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><head><title>hello</title></head><body>hi</body></html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


def test_watch_uploads_each_round_and_stops_cleanly_on_sigterm(
    tmp_path: Path, db: Path, origin: str
) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    server = Server(db, free_port()).start()
    listing = tmp_path / "list.txt"
    listing.write_text(f"{origin}\n{origin}page2\n")
    cmd = [
        sys.executable, "-m", "blockwatch", "watch", "--list", str(listing), "--every", "1m",
        "--collector", server.url, "--spool", str(tmp_path / "spool"), "--country", "IT",
        "--asn", "AS30722", "--no-system-dns", "--resolver", "",
    ]  # fmt: skip
    watch = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watch.stdout is not None
        line = watch.stdout.readline()  # the first round's line
        assert "round 1: measured 2, delivered 2, 0 in the spool" in line, line
        time.sleep(0.5)
        watch.send_signal(signal.SIGTERM)  # during the wait for the next round
        out, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
        server.stop()
    assert watch.returncode == 0, err
    assert "stopped; 0 measurements left in the spool" in out
    with Store(db, read_only=True) as store:
        assert store.count("measurements") == 2
