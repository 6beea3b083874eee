"""How long does an ASN database take to open, and how fast does it answer?

Writes a synthetic iptoasn.com TSV of --lines ranges (the real ``ip2asn-v4.tsv`` has about
half a million) in a temporary folder, then times ``asn_names.open_asn_db`` (read whole:
parsed, sorted), address lookups per second and AS-name lookups per second. `serve` opens it
once (and each report worker process once), `report` and `trace` once per command.

``--smoke``: the same at 2,000 lines.

    .venv/bin/python bench/asn_db.py [--lines 500000]
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

from blockwatch.asn_names import open_asn_db

NEEDS: tuple[str, ...] = ()
LOOKUPS = 100_000


def write_tsv(path: Path, lines: int) -> None:
    base = struct.unpack("!I", socket.inet_aton("1.0.0.0"))[0]
    rows = []
    for i in range(lines):
        lo = base + i * 256
        first, last = (
            socket.inet_ntoa(struct.pack("!I", lo)),
            socket.inet_ntoa(struct.pack("!I", lo + 255)),
        )
        rows.append(f"{first}\t{last}\t{1000 + i % 70000}\tUS\tNETWORK-{i % 70000} Example\n")
    path.write_text("".join(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args(argv)
    lines = 2_000 if args.smoke else args.lines
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ip2asn-v4.tsv"
        write_tsv(path, lines)
        t0 = time.perf_counter()
        db = open_asn_db(path)
        opened = time.perf_counter() - t0
        span = lines * 256
        addresses = [
            socket.inet_ntoa(struct.pack("!I", 0x01000000 + rng.randrange(span)))
            for _ in range(LOOKUPS)
        ]
        t0 = time.perf_counter()
        found = sum(1 for a in addresses if db.lookup(a)[0])
        lookup_s = time.perf_counter() - t0
        numbers = [f"AS{1000 + rng.randrange(70000)}" for _ in range(LOOKUPS)]
        t0 = time.perf_counter()
        named = sum(1 for n in numbers if db.name(n))
        name_s = time.perf_counter() - t0
    print(f"iptoasn TSV, {lines:,} ranges: opened in {opened:.2f} s")
    print(f"address lookups: {LOOKUPS / lookup_s:,.0f}/s ({found:,} of {LOOKUPS:,} found)")
    print(f"AS name lookups: {LOOKUPS / name_s:,.0f}/s ({named:,} of {LOOKUPS:,} named)")
    if found != LOOKUPS:
        print("error: an address inside the database was not found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
