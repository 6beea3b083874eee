"""Dashboard latency on a big store: p50/p95 per page and API route.

Fills a store with 1,000,000 synthetic verdicts (20 countries, 200 networks, 100 domains,
90 days; some domains blocked on some networks, with events, a few ongoing), serves it with
`blockwatch serve` on 127.0.0.1 and times each route. Target: p95 <= 300 ms.

Every request must answer 200. ``--smoke``: the same at 40,000 verdicts and 2 requests per
route, in a few seconds; the figures are printed, the latency target is not enforced.

    .venv/bin/python bench/web_latency.py [--rows 1000000] [--requests 40] [--db FILE] [--smoke]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx
import orjson
import pyarrow as pa

from blockwatch.analysis.records import Event, NetworkSpan
from blockwatch.store import Store
from blockwatch.store.rawcodec import BlockBuilder

# What tests/test_benches.py checks before running this bench with --smoke: nothing (the
# dashboard listens on 127.0.0.1).
NEEDS: tuple[str, ...] = ()
COUNTRIES = [f"C{chr(65 + i)}" for i in range(20)]
NETS_PER_COUNTRY = 10
DOMAINS = 100
DAYS = 90
START = datetime(2024, 1, 1)
METHODS = ["dns.nxdomain", "tls.reset", "tcp.timeout", "http.blockpage", "throttled"]
BLOCK = (30, 60)  # days: domains 0-4 blocked on networks 0-4 of every country
ONGOING_FROM = 80  # day: domain 5 blocked on networks 0-1 until the end of the data
RAW_SAMPLE = 2000  # measurements given a raw JSON text
TARGET_P95_MS = 300
ROWS, REQUESTS = 1_000_000, 40
# Smoke: every series twice, 45 days apart, so every route's first URLs find data (at 5,000
# rows whole countries are missing from the range pages, which then answer 404).
SMOKE_ROWS = 2 * len(COUNTRIES) * NETS_PER_COUNTRY * DOMAINS  # 40,000
SMOKE_REQUESTS = 2


def fill(path: Path, rows: int) -> None:
    t = time.monotonic()
    Store(path).close()  # the real schema
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
    # Columns by name, so a column added to a table (schema.py) cannot shift the values.
    con.execute(f"""
        INSERT INTO verdicts (measurement_id, measured_at, probe_cc, probe_asn, input, domain,
                              test_name, outcome, method, confidence, confirmed, evidence,
                              fingerprint, ooni_blocking, ooni_disagrees)
        SELECT 'bm-' || i, ts, {cc_list}[c + 1], 'AS' || (64500 + c * {NETS_PER_COUNTRY} + net),
               'https://site' || d || '.example/', 'site' || d || '.example', 'web_connectivity',
               CASE WHEN {blocked} THEN 'blocked' WHEN hash(i) % 97 = 0 THEN 'down' ELSE 'ok' END,
               CASE WHEN {blocked} THEN {methods}[(net % 5) + 1] END,
               0.9, false, [], NULL,
               CASE WHEN {blocked} THEN 'tcp_ip' ELSE 'false' END, false
        FROM gen2 ORDER BY ts""")
    con.execute("""
        INSERT INTO measurements (measurement_id, report_id, test_name, input, domain, probe_cc,
                                  probe_asn, measured_at, source)
        SELECT measurement_id, 'r', test_name, input, domain, probe_cc, probe_asn, measured_at,
               'bench' FROM verdicts""")
    # Raw JSON for a sample, so measurement pages have observations to show.
    sample = con.execute(
        f"SELECT measurement_id, input, probe_cc, probe_asn FROM verdicts USING SAMPLE {RAW_SAMPLE}"
    ).fetchall()
    _store_raw(con, sample)
    con.close()
    with Store(path) as store:
        store.replace_events(_events(store))
        _check_fill(store, rows, sample)
    print(f"filled {rows:,} verdicts in {time.monotonic() - t:.1f} s ({path})")


def _store_raw(con: duckdb.DuckDBPyConnection, sample: list[tuple[str, str, str, str]]) -> None:
    """The sample's raw texts as ingest stores them (schema 2): compressed into raw blocks
    (store/rawcodec.py), each measurement row pointing at its text's block, offset and length."""
    blocks: list[bytes] = []
    pointers: dict[str, list] = {"id": [], "block": [], "offset": [], "length": []}
    builder = BlockBuilder()
    for row in sample:
        offset, length = builder.add(orjson.dumps(_raw(*row)))
        for key, value in zip(pointers, (row[0], len(blocks) + 1, offset, length), strict=True):
            pointers[key].append(value)
        if builder.full:
            blocks.append(builder.finish())
            builder = BlockBuilder()
    if builder.count:
        blocks.append(builder.finish())
    con.executemany(
        "INSERT INTO raw_blocks (block_id, data) VALUES (?, ?)",
        [(i, data) for i, data in enumerate(blocks, start=1)],
    )
    con.register("raw_pointers", pa.table(pointers))
    con.execute("""
        UPDATE measurements SET raw_block = p.block, raw_offset = p.offset, raw_length = p.length
        FROM raw_pointers p WHERE measurements.measurement_id = p.id""")
    con.unregister("raw_pointers")


def _check_fill(store: Store, rows: int, sample: list[tuple[str, str, str, str]]) -> None:
    """The store reads back what fill wrote, through the store's own code."""
    counts = {t: store.count(t) for t in ("verdicts", "measurements")}
    if counts != {"verdicts": rows, "measurements": rows}:
        raise SystemExit(f"fill: expected {rows:,} verdicts and measurements, found {counts}")
    for row in (sample[0], sample[-1]):
        if store.raw_measurement(row[0]) != _raw(*row):
            raise SystemExit(f"fill: the raw text of {row[0]} does not read back")
    if not store.events():
        raise SystemExit(f"fill: no events in {rows:,} verdicts")


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
                    event_id=f"{parent}-{asn}",
                    kind="censorship",
                    probe_cc=cc_,
                    probe_asn=asn,
                    domain=dom,
                    start=lo.replace(tzinfo=UTC),
                    end=end,
                    methods=(method,),
                    availability=0.2,
                    confidence=0.9,
                    measurements=tuple(ids),
                    networks=(),
                    parent_event_id=parent,
                )
            )
            spans.append(NetworkSpan(asn, lo.replace(tzinfo=UTC), end, 0.2))
        all_ids = tuple(i for n in nets for i in n[3])
        events.append(
            Event(
                event_id=parent,
                kind="censorship",
                probe_cc=cc,
                probe_asn=None,
                domain=dom,
                start=min(s.start for s in spans),
                end=None if ongoing else max(s.end for s in spans if s.end),
                methods=tuple(sorted({n[6] for n in nets})),
                availability=0.2,
                confidence=0.9,
                measurements=all_ids,
                networks=tuple(spans),
                parent_event_id=None,
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
    ap.add_argument("--rows", type=int, help=f"verdicts to fill (default {ROWS:,})")
    ap.add_argument("--requests", type=int, help=f"requests per route (default {REQUESTS})")
    ap.add_argument("--db", type=Path, help="reuse/keep this store (filled when absent)")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help=f"tiny run ({SMOKE_ROWS:,} verdicts, {SMOKE_REQUESTS} requests per route): "
        "every route must answer 200, the latency target is not enforced",
    )
    args = ap.parse_args()
    rows = args.rows if args.rows is not None else SMOKE_ROWS if args.smoke else ROWS
    requests = (
        args.requests if args.requests is not None else SMOKE_REQUESTS if args.smoke else REQUESTS
    )
    if rows < 1 or requests < 1:
        ap.error("--rows and --requests must be at least 1")
    tmp = tempfile.TemporaryDirectory(prefix="bw-web-bench-")
    db = args.db or Path(tmp.name) / "bench.duckdb"
    if not db.exists():
        fill(db, rows)

    con = duckdb.connect(str(db), read_only=True)
    events = [
        r[0]
        for r in con.execute(
            "SELECT event_id FROM events WHERE parent_event_id IS NULL ORDER BY event_id LIMIT 20"
        ).fetchall()
    ]
    # Rows with a raw text: in a raw block (schema 2), or their own (a kept schema-1 store).
    present = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'measurements'"
    ).fetchall()
    has_raw = " OR ".join(f"{c} IS NOT NULL" for (c,) in present if c in ("raw", "raw_block"))
    mids = [
        r[0]
        for r in con.execute(
            f"SELECT measurement_id FROM measurements WHERE {has_raw} LIMIT 20"
        ).fetchall()
    ]
    print(
        f"store: {con.execute('SELECT count(*) FROM verdicts').fetchone()[0]:,} verdicts, "
        f"{con.execute('SELECT count(*) FROM events').fetchone()[0]:,} events"
    )
    con.close()
    if not events or not mids:
        raise SystemExit(f"{db}: no events or no measurement with its raw JSON to request")

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "blockwatch", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    worst = 0.0
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            _wait_for_server(client, proc)
            print(f"{'route':42} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for name, urls in routes(events, mids).items():
                _check(client.get(urls[0]))  # warm-up: first use of a cursor/code path
                times = []
                for i in range(requests):
                    t = time.perf_counter()
                    r = client.get(urls[i % len(urls)])
                    times.append((time.perf_counter() - t) * 1000)
                    _check(r)
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
    if args.smoke:
        print(f"worst p95: {worst:.1f} ms (target {TARGET_P95_MS} ms): not enforced (smoke run)")
        return 0
    verdict = "OK" if worst <= TARGET_P95_MS else "OVER TARGET"
    print(f"worst p95: {worst:.1f} ms (target {TARGET_P95_MS} ms): {verdict}")
    return 0 if worst <= TARGET_P95_MS else 1


def _wait_for_server(client: httpx.Client, proc: subprocess.Popen) -> None:
    """Until the dashboard answers (up to 30 s); fails if it exits or never answers."""
    for _ in range(150):
        if proc.poll() is not None:
            raise SystemExit(f"blockwatch serve exited with code {proc.returncode}")
        try:
            client.get("/api/openapi.json")
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise SystemExit("blockwatch serve did not answer within 30 s")


def _check(r: httpx.Response) -> None:
    if r.status_code != 200:
        raise SystemExit(f"{r.request.url.raw_path.decode()}: HTTP {r.status_code}")


if __name__ == "__main__":
    raise SystemExit(main())
