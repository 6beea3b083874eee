"""Dashboard latency on a big store: p50/p95 per page and API route.

Fills a store with 1,000,000 synthetic verdicts (20 countries, 200 networks, 100 domains,
90 days; some domains blocked on some networks, with events, a few ongoing), serves it with
`blockwatch serve` on 127.0.0.1 and times each route. Target: p95 <= 300 ms.

    .venv/bin/python bench/web_latency.py [--rows 1000000] [--requests 40] [--db FILE]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

from blockwatch.analysis.records import Event, NetworkSpan
from blockwatch.store import Store

COUNTRIES = [f"C{chr(65 + i)}" for i in range(20)]
NETS_PER_COUNTRY = 10
DOMAINS = 100
DAYS = 90
START = datetime(2024, 1, 1)
METHODS = ["dns.nxdomain", "tls.reset", "tcp.timeout", "http.blockpage", "throttled"]
BLOCK = (30, 60)  # days: domains 0-4 blocked on networks 0-4 of every country
ONGOING_FROM = 80  # day: domain 5 blocked on networks 0-1 until the end of the data


def fill(path: Path, rows: int) -> None:
    t = time.monotonic()
    Store(path).close()  # the real schema
    import duckdb

    con = duckdb.connect(str(path))
    n_series = len(COUNTRIES) * NETS_PER_COUNTRY * DOMAINS
    span_s = DAYS * 86400
    # Row i: series i % n_series, time spread evenly over 90 days (rows arrive in time order).
    con.execute(f"""
        CREATE TEMP TABLE gen AS
        SELECT i, i % {n_series} AS s,
               TIMESTAMP '{START.isoformat()}' + to_seconds(CAST(i * {span_s} / {rows} AS BIGINT))
                 AS ts
        FROM range({rows}) t(i)""")
    con.execute(f"""
        CREATE TEMP TABLE gen2 AS
        SELECT i, ts, s // ({NETS_PER_COUNTRY * DOMAINS}) AS c,
               (s // {DOMAINS}) % {NETS_PER_COUNTRY} AS net, s % {DOMAINS} AS d
        FROM gen""")
    day = "date_diff('day', TIMESTAMP '" + START.isoformat() + "', ts)"
    blocked = (
        f"((d < 5 AND net < 5 AND {day} BETWEEN {BLOCK[0]} AND {BLOCK[1] - 1})"
        f" OR (d = 5 AND net < 2 AND {day} >= {ONGOING_FROM})) AND hash(i) % 5 <> 0"
    )
    cc_list = "[" + ",".join(f"'{c}'" for c in COUNTRIES) + "]"
    methods = "[" + ",".join(f"'{m}'" for m in METHODS) + "]"
    con.execute(f"""
        INSERT INTO verdicts
        SELECT 'bm-' || i, ts, {cc_list}[c + 1], 'AS' || (64500 + c * {NETS_PER_COUNTRY} + net),
               'https://site' || d || '.example/', 'site' || d || '.example', 'web_connectivity',
               CASE WHEN {blocked} THEN 'blocked' WHEN hash(i) % 97 = 0 THEN 'down' ELSE 'ok' END,
               CASE WHEN {blocked} THEN {methods}[(net % 5) + 1] END,
               0.9, false, [], NULL,
               CASE WHEN {blocked} THEN 'tcp_ip' ELSE 'false' END, false
        FROM gen2 ORDER BY ts""")
    con.execute("""
        INSERT INTO measurements
        SELECT measurement_id, 'r', test_name, input, domain, probe_cc, probe_asn, measured_at,
               'bench', NULL FROM verdicts""")
    # Raw JSON for a sample, so measurement pages have observations to show.
    sample = con.execute(
        "SELECT measurement_id, input, probe_cc, probe_asn FROM verdicts USING SAMPLE 2000"
    ).fetchall()
    con.executemany(
        "UPDATE measurements SET raw = ? WHERE measurement_id = ?",
        [(zlib.compress(orjson.dumps(_raw(*r))), r[0]) for r in sample],
    )
    con.close()
    with Store(path) as store:
        store.replace_events(_events(store))
    print(f"filled {rows:,} verdicts in {time.monotonic() - t:.1f} s ({path})")


def _raw(mid: str, url: str, cc: str, asn: str) -> dict:
    return {
        "measurement_uid": mid,
        "input": url,
        "probe_cc": cc,
        "probe_asn": asn,
        "test_name": "web_connectivity",
        "software_name": "bench",
        "test_keys": {
            "queries": [{"hostname": url.split("/")[2], "answers": []}],
            "tcp_connect": [],
            "tls_handshakes": [],
            "requests": [{"request": {"url": url}, "response": {"body": "x" * 500}}],
            "control": {},
            "blocking": False,
        },
    }


def _events(store: Store) -> list[Event]:
    con = store.cursor()
    rows = con.execute("""
        SELECT probe_cc, probe_asn, domain, list(measurement_id ORDER BY measured_at),
               min(measured_at), max(measured_at), any_value(method)
        FROM verdicts WHERE outcome = 'blocked' GROUP BY ALL""").fetchall()
    by_target: dict[tuple[str, str], list] = {}
    for r in rows:
        by_target.setdefault((r[0], r[2]), []).append(r)
    events = []
    for (cc, dom), nets in by_target.items():
        ongoing = dom == "site5.example"
        parent = f"ev-{cc}-{dom}"
        spans = []
        for cc_, asn, _, ids, lo, hi, method in nets:
            end = None if ongoing else hi.replace(tzinfo=UTC)
            events.append(
                Event(
                    f"{parent}-{asn}",
                    "censorship",
                    cc_,
                    asn,
                    dom,
                    lo.replace(tzinfo=UTC),
                    end,
                    (method,),
                    0.2,
                    0.9,
                    tuple(ids),
                    (),
                    parent,
                )
            )
            spans.append(NetworkSpan(asn, lo.replace(tzinfo=UTC), end, 0.2))
        all_ids = tuple(i for n in nets for i in n[3])
        events.append(
            Event(
                parent,
                "censorship",
                cc,
                None,
                dom,
                min(s.start for s in spans),
                None if ongoing else max(s.end for s in spans if s.end),
                tuple(sorted({n[6] for n in nets})),
                0.2,
                0.9,
                all_ids,
                tuple(spans),
                None,
            )
        )
    return events


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def routes(con_ids: list[str], measurement_ids: list[str]) -> dict[str, list[str]]:
    """Route name -> concrete URLs to cycle through."""
    cc = COUNTRIES
    dom = [f"site{i}.example" for i in range(DOMAINS)]
    asn = [f"AS{64500 + i}" for i in range(len(COUNTRIES) * NETS_PER_COUNTRY)]
    rng = "from=2024-02-01&to=2024-02-29"
    return {
        "/": ["/", f"/?{rng}"],
        "/country/{cc}": [f"/country/{c}" for c in cc],
        "/country/{cc}/domain/{d}": [f"/country/{c}/domain/{dom[i % 8]}" for i, c in enumerate(cc)],
        "/country/{cc}/domain/{d}?range": [
            f"/country/{c}/domain/{dom[i % 8]}?{rng}" for i, c in enumerate(cc)
        ],
        "/network/{asn}": [f"/network/{a}" for a in asn[::7]],
        "/event/{id}": [f"/event/{e}" for e in con_ids],
        "/measurement/{id}": [f"/measurement/{m}" for m in measurement_ids],
        "/api/overview": ["/api/overview"],
        "/api/countries/{cc}": [f"/api/countries/{c}" for c in cc],
        "/api/countries/{cc}/domains/{d}": [
            f"/api/countries/{c}/domains/{dom[i % 8]}" for i, c in enumerate(cc)
        ],
        "/api/networks/{asn}": [f"/api/networks/{a}" for a in asn[::7]],
        "/api/events/{id}": [f"/api/events/{e}" for e in con_ids],
        "/api/measurements/{id}": [f"/api/measurements/{m}" for m in measurement_ids],
        "/api/events": [f"/api/events?cc={c}" for c in cc],
        "/api/verdicts": [f"/api/verdicts?cc={c}&outcome=blocked" for c in cc],
        "/api/verdicts.csv (cc+domain)": [f"/api/verdicts.csv?cc={c}&domain={dom[1]}" for c in cc],
        "/api/events.csv": ["/api/events.csv"],
        "/event/{id}/report.html": [f"/event/{e}/report.html" for e in con_ids[:6]],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=40, help="requests per route")
    ap.add_argument("--db", type=Path, help="reuse/keep this store (filled when absent)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bw-web-bench-")
    db = args.db or Path(tmp.name) / "bench.duckdb"
    if not db.exists():
        fill(db, args.rows)
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    events = [
        r[0]
        for r in con.execute(
            "SELECT event_id FROM events WHERE parent_event_id IS NULL ORDER BY event_id LIMIT 20"
        ).fetchall()
    ]
    mids = [
        r[0]
        for r in con.execute(
            "SELECT measurement_id FROM measurements WHERE raw IS NOT NULL LIMIT 20"
        ).fetchall()
    ]
    print(
        f"store: {con.execute('SELECT count(*) FROM verdicts').fetchone()[0]:,} verdicts, "
        f"{con.execute('SELECT count(*) FROM events').fetchone()[0]:,} events"
    )
    con.close()

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "blockwatch", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    worst = 0.0
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(150):
                try:
                    client.get("/api/openapi.json")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            print(f"{'route':42} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for name, urls in routes(events, mids).items():
                client.get(urls[0])  # warm-up: first use of a cursor/code path
                times = []
                for i in range(args.requests):
                    t = time.perf_counter()
                    r = client.get(urls[i % len(urls)])
                    times.append((time.perf_counter() - t) * 1000)
                    if r.status_code != 200:
                        raise SystemExit(f"{urls[i % len(urls)]}: HTTP {r.status_code}")
                times.sort()
                p95 = times[max(0, round(0.95 * len(times)) - 1)]
                worst = max(worst, p95)
                print(
                    f"{name:42} {len(times):>4} {statistics.median(times):>8.1f} {p95:>8.1f}"
                    f" {times[-1]:>8.1f}"
                )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    verdict = "OK" if worst <= 300 else "OVER TARGET"
    print(f"worst p95: {worst:.1f} ms (target 300 ms): {verdict}")
    return 0 if worst <= 300 else 1


if __name__ == "__main__":
    raise SystemExit(main())
