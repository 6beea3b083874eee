"""Collector under load: simulated probes upload real measurements to `blockwatch serve`
over loopback while a reader loads the dashboard.

Prints measurements/s accepted, p50/p95 submit latency, dashboard p95 during the load and
the server's peak RSS. Targets (2 cores shared by probes, dashboard load and server):
>= 1,000 measurements/s, dashboard p95 <= 300 ms, server RSS <= 1 GB.

    .venv/bin/python bench/collector_load.py [--probes 50] [--per-probe 100] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from blockwatch.config import shared_data_dir

NEEDS: tuple[str, ...] = ("shared_data",)
TARGET_RATE = 1000.0
TARGET_P95_MS = 300.0
TARGET_RSS_MB = 1024.0
PAGES = ("/", "/country/IT", "/api/events", "/api/verdicts?country=IT", "/feeds/events.atom")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _docs() -> list[dict[str, Any]]:
    qa = shared_data_dir() / "ooni" / "qa"
    docs = [orjson.loads(p.read_bytes()) for p in sorted(qa.glob("*.json"))]
    return [d for d in docs if d.get("test_name") == "web_connectivity"]


def _content(base: dict[str, Any], probe: int, n: int) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    # A fresh measurement each time (the collector keys on content): its own time.
    doc["measurement_start_time"] = f"2024-02-{1 + n % 28:02d} {probe % 24:02d}:{n % 60:02d}:00"
    doc.update(probe_cc="IT", probe_asn=f"AS{64500 + probe % 5}", software_name="bench")
    doc["software_version"] = "1.0"
    return doc


async def _probe(url: str, probe: int, per: int, docs: list[dict[str, Any]]) -> list[float]:
    lat = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        opened = await client.post(
            "/report",
            json={
                "format": "json", "data_format_version": "0.2.0", "probe_asn": "AS64500",
                "probe_cc": "IT", "software_name": "bench", "software_version": "1.0",
                "test_name": "web_connectivity", "test_version": "0.4.3",
            },
        )  # fmt: skip
        rid = opened.json()["report_id"]
        for n in range(per):
            body = {"format": "json", "content": {**_content(docs[n % len(docs)], probe, n)}}
            body["content"]["report_id"] = rid
            t = time.perf_counter()
            answer = await client.post(f"/report/{rid}", json=body)
            lat.append(time.perf_counter() - t)
            if answer.status_code != 200:
                raise SystemExit(f"submit failed: {answer.status_code} {answer.text[:200]}")
    return lat


def _reader(url: str, stop: threading.Event, lat: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        i = 0
        while not stop.is_set():
            t = time.perf_counter()
            answer = client.get(PAGES[i % len(PAGES)])
            lat.append(time.perf_counter() - t)
            if answer.status_code != 200:
                raise SystemExit(f"{PAGES[i % len(PAGES)]}: {answer.status_code}")
            i += 1


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000 if ordered else 0.0


def _rss_watch(pid: int, stop: threading.Event, peak: list[int]) -> None:
    proc = psutil.Process(pid)
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], proc.memory_info().rss)
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
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("serve did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probes", type=int, default=None)
    ap.add_argument("--per-probe", type=int, default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny size; targets not enforced")
    args = ap.parse_args()
    probes = args.probes or (4 if args.smoke else 50)
    per = args.per_probe or (5 if args.smoke else 100)
    docs = _docs()
    if not docs:
        print(f"skipped: no QA measurements in {shared_data_dir() / 'ooni' / 'qa'}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc = _serve(Path(tmp) / "bench.duckdb", port)
        url = f"http://127.0.0.1:{port}"
        stop, peak, page_lat = threading.Event(), [0], []
        threads = [
            threading.Thread(target=_rss_watch, args=(proc.pid, stop, peak), daemon=True),
            threading.Thread(target=_reader, args=(url, stop, page_lat), daemon=True),
        ]
        for t in threads:
            t.start()
        started = time.perf_counter()

        async def everyone() -> list[list[float]]:
            return await asyncio.gather(*(_probe(url, p, per, docs) for p in range(probes)))

        submit = [x for lat in asyncio.run(everyone()) for x in lat]
        seconds = time.perf_counter() - started
        stop.set()
        for t in threads:
            t.join(timeout=10)
        status = httpx.get(f"{url}/api/collector/status").json()
        proc.terminate()
        proc.wait(timeout=60)
    total = probes * per
    rate = total / seconds
    print(
        f"probes {probes} x {per} measurements = {total} in {seconds:.1f} s"
        f" (cores {os.cpu_count()})"
    )
    print(f"accepted: {status['accepted']} ({status['batches']} commits)")
    print(f"measurements/s accepted: {rate:.0f} (target {TARGET_RATE:.0f})")
    print(f"submit latency p50 {_pct(submit, 0.5):.0f} ms, p95 {_pct(submit, 0.95):.0f} ms")
    print(
        f"dashboard during load: {len(page_lat)} requests, p95 {_pct(page_lat, 0.95):.0f} ms"
        f" (target {TARGET_P95_MS:.0f} ms)"
    )
    print(f"server peak RSS: {peak[0] / 2**20:.0f} MB (target {TARGET_RSS_MB:.0f} MB)")
    if status["accepted"] != total:
        print("error: not every measurement was stored")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
