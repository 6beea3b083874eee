"""Collector under load: simulated probes upload real measurements to `blockwatch serve` over
loopback while a reader loads the dashboard, each in processes of their own.

Processes: the server (a real ``blockwatch serve``), ``--procs`` load generators sharing the
``--probes`` probes (each probe: one report, ``--per-probe`` measurements made from OONI's
QA measurements, each given its own time so that each is new, sent ``--parallel`` at a time
over as many keep-alive connections, as ``blockwatch watch`` delivers its spool),
and one dashboard reader asking a mix of pages, API and the feed one after another for as
long as the load lasts. The store starts with ``--preload`` measurements of other countries
and of the probes' country, so the pages and the event updates have something to read.

Prints measurements/s accepted, submit latency p50/p95, dashboard p50/p95/p99 during the
load and the server's peak RSS. Targets (2 cores shared by probes, dashboard load and
server): >= 1,000 measurements/s, dashboard p95 <= 300 ms, server RSS <= 1 GB.

    .venv/bin/python bench/collector_load.py [--probes 50] [--per-probe 100] [--parallel 8]
        [--procs 2] [--preload 10000] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import multiprocessing as mp
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from blockwatch.config import shared_data_dir
from blockwatch.pipeline import ingest_documents
from blockwatch.store import Store

NEEDS: tuple[str, ...] = ("shared_data",)
TARGET_RATE = 1000.0
TARGET_P95_MS = 300.0
TARGET_RSS_MB = 1024.0
CC, ASNS = "IT", 5
PRELOAD_CCS = ("IT", "PK", "IR", "RU", "TR", "EG")
# What a person looking at the observatory asks for while probes upload: the home page, the
# probes' country and one of its networks, the API behind them, the feed.
PAGES = (
    "/",
    f"/country/{CC}",
    "/network/AS64500",
    "/api/overview",
    f"/api/events?country={CC}",
    f"/api/verdicts?country={CC}",
    f"/api/countries/{CC}",
    "/feeds/events.atom",
    f"/feeds/events.atom?country={CC}",
)
OPEN = {
    "format": "json", "data_format_version": "0.2.0", "probe_cc": CC,
    "software_name": "bench", "software_version": "1.0",
    "test_name": "web_connectivity", "test_version": "0.4.3",
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _docs() -> list[dict[str, Any]]:
    qa = shared_data_dir() / "ooni" / "qa"
    docs = [orjson.loads(p.read_bytes()) for p in sorted(qa.glob("*.json"))]
    return [d for d in docs if d.get("test_name") == "web_connectivity"]


def _content(base: dict[str, Any], probe: int, n: int, cc: str = CC) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    # A fresh measurement each time (the collector keys on content): its own time.
    doc["measurement_start_time"] = (
        f"2024-03-{1 + n // 1440 % 28:02d} {n // 60 % 24:02d}:{n % 60:02d}:{probe % 60:02d}"
    )
    doc.update(probe_cc=cc, probe_asn=f"AS{64500 + probe % ASNS}", software_name="bench")
    doc["software_version"] = "1.0"
    doc.pop("measurement_uid", None)
    return doc


def _preload(db: Path, count: int, docs: list[dict[str, Any]]) -> None:
    """``count`` measurements from February, before the load's, spread over countries."""
    batch: list[dict[str, Any]] = []
    with Store(db) as store:
        for i in range(count):
            doc = _content(docs[i % len(docs)], 1000 + i % 50, i, PRELOAD_CCS[i % 6])
            doc["measurement_start_time"] = doc["measurement_start_time"].replace(
                "2024-03", "2024-02"
            )
            doc["report_id"] = f"preload{i // 100}"
            doc["measurement_uid"] = f"20240201000000.000000_{doc['probe_cc']}_preload_{i:016x}"
            batch.append(doc)
            if len(batch) == 2000 or i == count - 1:
                ingest_documents(store, batch)
                batch = []


# --- a lean HTTP/1.1 client: the load generator must leave the CPU to the server -------------


class Connection:
    """One keep-alive HTTP/1.1 connection; answers must carry Content-Length (ours do)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._io: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        for _ in range(2):  # once more on a new connection if the server closed an idle one
            if self._io is None:
                self._io = await asyncio.open_connection("127.0.0.1", self.port)
            reader, writer = self._io
            try:
                writer.write(head + body)
                status_line = await reader.readline()
            except ConnectionError:
                status_line = b""
            if status_line:
                break
            self.close()
        else:
            raise SystemExit(f"{path}: the server closed the connection")
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(status_line.split(b" ", 2)[1]), await reader.readexactly(length)

    def close(self) -> None:
        if self._io is not None:
            self._io[1].close()
            self._io = None


async def _probe(
    port: int, probe: int, per: int, parallel: int, docs: list[dict[str, Any]], go: asyncio.Event
) -> list[float]:
    conns = [Connection(port) for _ in range(parallel)]
    conn = conns[0]
    status, answer = await conn.post(
        "/report", orjson.dumps({**OPEN, "probe_asn": f"AS{64500 + probe % ASNS}"})
    )
    if status != 200:
        raise SystemExit(f"open failed: {status} {answer[:200]!r}")
    rid = orjson.loads(answer)["report_id"]
    # Encoded before the clock starts: a probe's own work is not the collector's.
    bodies = []
    for n in range(per):
        content = _content(docs[(probe + n) % len(docs)], probe, n)
        content["report_id"] = rid
        bodies.append(orjson.dumps({"format": "json", "content": content}))
    await go.wait()
    lat: list[float] = []

    async def submit(c: Connection, body: bytes) -> None:
        t = time.perf_counter()
        status, answer = await c.post(f"/report/{rid}", body)
        lat.append(time.perf_counter() - t)
        if status != 200:
            raise SystemExit(f"submit failed: {status} {answer[:200]!r}")

    # As `blockwatch watch` delivers its spool: ``parallel`` at a time, the next ones once
    # all of those are acknowledged.
    for start in range(0, len(bodies), parallel):
        chunk = bodies[start : start + parallel]
        await asyncio.gather(*(submit(c, b) for c, b in zip(conns, chunk, strict=False)))
    await conn.post(f"/report/{rid}/close", b"")
    for c in conns:
        c.close()
    return lat


def load_worker(
    port: int, probes: list[int], per: int, parallel: int, ready: Any, results: Any
) -> None:
    """A load generator process: its probes open their reports, wait for every process to
    be ready, then submit as fast as the collector acknowledges."""
    docs = _docs()

    async def run() -> list[float]:
        go = asyncio.Event()
        tasks = [asyncio.create_task(_probe(port, p, per, parallel, docs, go)) for p in probes]
        await asyncio.get_running_loop().run_in_executor(None, ready.wait)
        go.set()
        return [x for lat in await asyncio.gather(*tasks) for x in lat]

    cpu = time.process_time()
    lat = asyncio.run(run())
    results.put(("load", (lat, time.process_time() - cpu), time.time()))


def reader_worker(port: int, ready: Any, stop: Any, results: Any) -> None:
    """The dashboard reader process: one request after another, as long as the load lasts."""
    lat: list[tuple[str, float, str]] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        ready.wait()
        i = 0
        while not stop.is_set():
            page = PAGES[i % len(PAGES)]
            t = time.perf_counter()
            answer = client.get(page)
            lat.append(
                (page, time.perf_counter() - t, answer.headers.get("x-blockwatch-answer", ""))
            )
            if answer.status_code != 200:
                raise SystemExit(f"{page}: {answer.status_code} {answer.text[:200]}")
            i += 1
    results.put(("reader", lat, time.time()))


# --- the server -------------------------------------------------------------------------------


def _rss_watch(pid: int, stop: threading.Event, peak: list[int]) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss
            rss += sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak[0] = max(peak[0], rss)
        except psutil.Error:
            return
        time.sleep(0.05)


def _serve(db: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "blockwatch", "serve", "--db", str(db), "--port", str(port)]
    cmd += ["--rate", "100000"]  # every simulated probe shares 127.0.0.1
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/collector/status").status_code == 200:
                return proc
        except httpx.HTTPError:
            if proc.poll() is not None:
                raise SystemExit(f"serve exited: {proc.stderr.read().decode()[-2000:]}") from None
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("serve did not start")


def _result(results: Any, workers: list[Any]) -> tuple[str, Any, float]:
    """The next worker's figures; SystemExit when a worker died without sending them."""
    while True:
        try:
            found: tuple[str, Any, float] = results.get(timeout=2)
            return found
        except queue.Empty:
            if any(w.exitcode not in (None, 0) for w in workers):
                raise SystemExit("a load or reader process failed (see above)") from None


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


@dataclass
class Figures:
    total: int
    seconds: float
    submit: list[float]
    pages: list[tuple[str, float, str]]
    status: dict[str, Any]
    peak_rss: int
    server_cpu: float  # seconds of CPU the server process used during the load
    load_cpu: float  # and the load generators


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def run(
    probes: int, per: int, parallel: int, procs: int, preload: int, docs: list[dict[str, Any]]
) -> Figures:
    # fork: the parent runs no thread yet, and forked semaphores need no resource tracker
    # (a spawned one outlives the bench for a moment, and a test counts what it leaves).
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        if preload:
            _preload(db, preload, docs)
        port = _free_port()
        server = _serve(db, port)
        stop_rss, peak = threading.Event(), [0]
        ready, stop, results = ctx.Barrier(procs + 2), ctx.Event(), ctx.Queue()
        shares = [list(range(probes))[i::procs] for i in range(procs)]
        workers = [
            ctx.Process(target=load_worker, args=(port, share, per, parallel, ready, results))
            for share in shares
        ]
        workers.append(ctx.Process(target=reader_worker, args=(port, ready, stop, results)))
        for w in workers:
            w.start()
        threading.Thread(target=_rss_watch, args=(server.pid, stop_rss, peak), daemon=True).start()
        try:
            ready.wait(timeout=120)
            started = time.time()
            watched = psutil.Process(server.pid)
            cpu_before = _cpu(watched)
            submit: list[float] = []
            load_cpu = 0.0
            pages: list[tuple[str, float, str]] = []
            ended = started
            for _ in range(procs):
                _, (lat, cpu), when = _result(results, workers)
                submit += lat
                load_cpu += cpu
                ended = max(ended, when)
            server_cpu = _cpu(watched) - cpu_before
            stop.set()
            _, pages, _ = _result(results, workers)
            for w in workers:
                w.join(timeout=60)
            status = httpx.get(f"http://127.0.0.1:{port}/api/collector/status").json()
        finally:
            for w in workers:
                if w.is_alive():
                    w.kill()
            # Its report workers (and multiprocessing's tracker) end just after it: wait.
            helpers = psutil.Process(server.pid).children(recursive=True)
            server.terminate()
            server.wait(timeout=120)
            for left in psutil.wait_procs(helpers, timeout=15)[1]:
                left.kill()
            stop_rss.set()
    return Figures(
        probes * per, ended - started, submit, pages, status, peak[0], server_cpu, load_cpu
    )


def report(f: Figures, probes: int, per: int, parallel: int, procs: int, preload: int) -> None:
    rate = f.total / f.seconds
    print(
        f"probes {probes} x {per} measurements = {f.total} in {f.seconds:.1f} s,"
        f" {parallel} in flight per probe"
        f" ({procs} load processes, store preloaded with {preload}; cores {os.cpu_count()})"
    )
    print(f"accepted: {f.status['accepted']} ({f.status['batches']} commits)")
    print(f"measurements/s accepted: {rate:.0f} (target {TARGET_RATE:.0f})")
    print(f"submit latency p50 {_pct(f.submit, 0.5):.0f} ms, p95 {_pct(f.submit, 0.95):.0f} ms")
    lat = [x for _, x, _ in f.pages]
    built = [x for _, x, how in f.pages if how != "kept"]
    print(
        f"dashboard during load: {len(lat)} requests ({len(built)} built, the rest kept),"
        f" p50 {_pct(lat, 0.5):.0f} ms, p95 {_pct(lat, 0.95):.0f} ms,"
        f" p99 {_pct(lat, 0.99):.0f} ms (target p95 {TARGET_P95_MS:.0f} ms)"
    )
    for page in PAGES:
        mine = [x for p, x, _ in f.pages if p == page]
        if mine:
            print(
                f"  {page:<32} {len(mine):>4}"
                f" p50 {_pct(mine, 0.5):>5.0f} p95 {_pct(mine, 0.95):>5.0f}"
            )
    print(f"server peak RSS: {f.peak_rss / 2**20:.0f} MB (target {TARGET_RSS_MB:.0f} MB)")
    # What the figures above hide on a shared machine: CPU spent, whoever else was running.
    print(
        f"CPU per measurement: server {f.server_cpu / f.total * 1e6:.0f} us,"
        f" load generators {f.load_cpu / f.total * 1e6:.0f} us"
        f" (server {f.server_cpu / f.seconds:.2f} cores over the load)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=None)
    ap.add_argument("--per-probe", type=int, default=None)
    ap.add_argument("--procs", type=int, default=2, help="load generator processes")
    ap.add_argument(
        "--parallel",
        type=int,
        default=8,
        help="submissions a probe has in flight (blockwatch watch delivers 8 at a time)",
    )
    ap.add_argument("--preload", type=int, default=None, help="measurements stored before")
    ap.add_argument("--smoke", action="store_true", help="tiny size; targets not enforced")
    args = ap.parse_args()
    probes = args.probes or (4 if args.smoke else 50)
    per = args.per_probe or (5 if args.smoke else 100)
    preload = args.preload if args.preload is not None else (50 if args.smoke else 10_000)
    docs = _docs()
    if not docs:
        print(f"skipped: no QA measurements in {shared_data_dir() / 'ooni' / 'qa'}")
        return 0
    parallel, procs = max(1, args.parallel), max(1, args.procs)
    figures = run(probes, per, parallel, procs, preload, docs)
    report(figures, probes, per, parallel, procs, preload)
    if figures.status["accepted"] != figures.total:
        print("error: not every measurement was stored")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
