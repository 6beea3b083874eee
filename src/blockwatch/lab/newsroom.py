"""The lab's newsroom: a webhook receiver that writes every alert it gets to a JSONL file.

``python -m blockwatch.lab.newsroom --port P --out FILE [--observatory URL]`` runs inside the
lab's control namespace next to the observatory, so the alerts of a lab run can be scored
against truth. It is also the lab's hand on that side: each ``{"settle": true}`` line on
stdin asks the observatory to decide its events on what it holds (once a round is in from
every network) and answers ``{"events_as_of": ...}``. EOF on stdin: exit.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

MAX_BODY = 1024 * 1024
START_SECONDS = 60.0
SETTLE_SECONDS = 120.0  # a settle recomputes the country's events: seconds on a big store


def _handler(out: Path, lock: threading.Lock) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(size, MAX_BODY))
            try:
                alert: Any = orjson.loads(body)
            except orjson.JSONDecodeError:
                self.send_response(400)
                self.end_headers()
                return
            line = orjson.dumps(
                {"alert": alert, "signature": self.headers.get("X-Blockwatch-Signature")}
            )
            with lock, out.open("ab") as fh:
                fh.write(line + b"\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _settle(observatory: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{observatory}/api/collector/settle", method="POST")
    # A server that has just said it is up may not listen yet: refused connections are
    # retried for a while (a busy machine may take seconds to bind).
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(request, timeout=SETTLE_SECONDS) as answer:
                data = orjson.loads(answer.read(MAX_BODY))
            break
        except urllib.error.URLError as exc:
            refused = isinstance(exc.reason, ConnectionRefusedError)
            if not refused or time.monotonic() > deadline:
                return {"error": f"the observatory did not settle: {exc}"}
            time.sleep(0.05)
        except (OSError, orjson.JSONDecodeError) as exc:
            return {"error": f"the observatory did not settle: {exc}"}
    return {"events_as_of": data.get("events_as_of") if isinstance(data, dict) else None}


def _commands(observatory: str | None) -> None:
    """Answer stdin's lines until EOF."""
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        try:
            command = orjson.loads(line)
        except orjson.JSONDecodeError:
            command = None
        if isinstance(command, dict) and command.get("settle") and observatory:
            answer = _settle(observatory)
        else:
            answer = {"error": f"unknown command {line[:100]!r}"}
        sys.stdout.buffer.write(orjson.dumps(answer) + b"\n")
        sys.stdout.buffer.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockwatch.lab.newsroom")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--observatory", help="the observatory's URL, for settle commands")
    args = parser.parse_args(argv)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", args.port), _handler(args.out, threading.Lock())
    )
    threading.Thread(target=server.serve_forever, name="newsroom", daemon=True).start()
    print("listening", file=sys.stderr, flush=True)  # agents log stderr; stdout is theirs
    with contextlib.suppress(KeyboardInterrupt):
        _commands(args.observatory)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
