"""The lab's newsroom: a webhook receiver that writes every alert it gets to a JSONL file.

``python -m blockwatch.lab.newsroom --port P --out FILE`` runs inside the lab's control
namespace next to the observatory, so the alerts of a lab run can be scored against truth.
"""

from __future__ import annotations

import argparse
import http.server
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

MAX_BODY = 1024 * 1024


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockwatch.lab.newsroom")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", args.port), _handler(args.out, threading.Lock())
    )
    print("listening", file=sys.stderr, flush=True)  # agents log stderr; stdout is theirs
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
