"""Probe throughput: 1,000 URLs against local origins at concurrency 1, 16 and 64.

Origins (half HTTP, half HTTPS with a test CA) and the resolvers run in one child process,
the control helper in another (it is a remote service in real use); the probe runs here.
Prints URLs/s and the probe's peak RSS.
Run: .venv/bin/python bench/probe_throughput.py [--urls 1000] [--levels 1,16,64] [--smoke]
Targets: >= 50 URLs/s at concurrency 64 on 2 cores; peak RSS <= 300 MB.
``--smoke``: 20 URLs at concurrency 1 and 8, in a few seconds; every URL must then come out
"ok" (the local sites are all open), which a broken probe, control helper or analysis fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil

# What tests/test_benches.py checks before running this bench with --smoke: nothing (the
# origins, resolvers and control helper all listen on 127.0.0.0/8).
NEEDS: tuple[str, ...] = ()
SITES = 100
URLS, LEVELS = 1000, "1,16,64"
SMOKE_URLS, SMOKE_LEVELS = 20, "1,8"


async def serve(folder: Path) -> None:
    from blockwatch.probe.testing.loopnet import LoopNet

    net = await LoopNet.start(folder, control=False)
    urls = [await net.site(f"s{i}.bench", tls=i % 2 == 1) for i in range(SITES)]
    info = {
        "urls": urls,
        "resolver": net.isp_dns.address,
        "ca_file": str(net.ca.cert_file),
    }
    sys.stdout.write(orjson.dumps(info).decode() + "\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until parent ends
    await net.close()


async def serve_control(resolver: str, ca_file: str) -> None:
    from blockwatch.control.helper import HelperConfig
    from blockwatch.control.server import ControlServer
    from blockwatch.net.timeouts import Timeouts

    timeouts = Timeouts(dns=2, connect=2, tls=2, http=5, total=15)
    config = HelperConfig(allow_private=True, resolver=resolver, ca_file=ca_file, timeouts=timeouts)
    server = ControlServer(config, "127.0.0.1", 0)
    await server.start()
    sys.stdout.write(server.url + "\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.close()


async def measure(urls: list[str], info: dict, concurrency: int) -> tuple[float, dict[str, int]]:
    from blockwatch.analysis.verdict import analyze_document
    from blockwatch.net.timeouts import Timeouts
    from blockwatch.probe import ProbeConfig, measure_urls

    config = ProbeConfig(
        control_url=info["control"],
        resolver=info["resolver"],
        system_resolver=False,
        ca_file=info["ca_file"],
        concurrency=concurrency,
        timeouts=Timeouts(dns=2, connect=2, tls=2, http=5, control=10, total=20),
    )
    started = time.monotonic()
    docs = [doc async for doc in measure_urls(urls, config)]
    seconds = time.monotonic() - started
    outcomes: dict[str, int] = {}
    for doc in docs:  # the CLI analyses after measuring, too; not part of the probe's time
        v = analyze_document(doc)
        outcomes[v.outcome] = outcomes.get(v.outcome, 0) + 1
    return seconds, outcomes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--urls", type=int, help=f"URLs to measure (default {URLS:,})")
    parser.add_argument("--levels", help=f"concurrency levels (default {LEVELS})")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"tiny run: {SMOKE_URLS} URLs at concurrency {SMOKE_LEVELS}, all must be ok",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-control", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    if args.serve_control:
        asyncio.run(serve_control(*args.serve_control))
        return
    n_urls = args.urls if args.urls is not None else SMOKE_URLS if args.smoke else URLS
    levels = [int(x) for x in (args.levels or (SMOKE_LEVELS if args.smoke else LEVELS)).split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bw-bench-"))
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    helper = None
    try:
        assert child.stdout is not None
        info = orjson.loads(child.stdout.readline())
        helper = subprocess.Popen(
            [sys.executable, __file__, "--serve-control", info["resolver"], info["ca_file"]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert helper.stdout is not None
        info["control"] = helper.stdout.readline().strip()
        base = info["urls"]
        urls = [f"{base[i % len(base)]}page{i}" for i in range(n_urls)]
        procs = [psutil.Process(), child, helper]
        print(f"probe throughput: {len(urls)} URLs over {len(base)} local sites (half HTTPS)")
        print(f"{'concurrency':>11} {'seconds':>8} {'URLs/s':>8} {'peak RSS MB':>12}  outcomes")
        for level in levels:
            cpu0 = [sum(psutil.Process(p.pid).cpu_times()[:2]) for p in procs]
            seconds, outcomes = asyncio.run(measure(urls, info, level))
            cpu = [
                sum(psutil.Process(p.pid).cpu_times()[:2]) - c
                for p, c in zip(procs, cpu0, strict=True)
            ]
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            rate = len(urls) / seconds
            print(f"{level:>11} {seconds:>8.1f} {rate:>8.1f} {peak:>12.1f}  {outcomes}")
            if sum(outcomes.values()) != len(urls):
                raise SystemExit(f"{sum(outcomes.values())} measurements for {len(urls)} URLs")
            if args.smoke and set(outcomes) != {"ok"}:
                raise SystemExit(f"smoke run: every local site is open, got {outcomes}")
            per_url = sum(cpu) / len(urls) * 1000
            most = 2000 / per_url if per_url else float("inf")  # psutil counts 10 ms steps
            print(
                f"{'':>11} CPU s: probe {cpu[0]:.1f}, origins+DNS {cpu[1]:.1f}, helper "
                f"{cpu[2]:.1f}; {per_url:.1f} CPU ms per URL in all -> at most "
                f"{most:.0f} URLs/s on 2 idle cores; load average "
                f"{os.getloadavg()[0]:.1f}"
            )
        rss = [psutil.Process(p.pid).memory_info().rss / 2**20 for p in (child, helper)]
        print(f"(origins+DNS process RSS {rss[0]:.0f} MB, control helper RSS {rss[1]:.0f} MB)")
    finally:
        for proc in (child, helper):
            if proc is not None and proc.stdin:
                proc.stdin.close()
            if proc is not None:
                proc.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
