"""A long-lived probe for the lab: ``python -m blockwatch.probe.worker --config FILE.json``.

Runs inside a network namespace (``ip netns exec``). Protocol, one JSON object per line:
stdin ``{"urls": [...], "start_time": ISO-8601, "report_id": str}`` per round, with
``"tools": ["tor", "openvpn", ...], "targets": FILE`` to run tool tests too (``probe.tools``,
their targets file in ``probe/data/tools.toml``'s shape); stdout one OONI measurement per URL
and per tool measurement, then ``{"done": true}``. EOF on stdin: exit 0. A bad round
line gets ``{"done": true, "error": "..."}`` and the worker keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from blockwatch.errors import ProbeError
from blockwatch.probe.config import ProbeConfig
from blockwatch.probe.runner import measure_urls
from blockwatch.probe.spool import Spool
from blockwatch.probe.targets import ToolTargets, load_targets
from blockwatch.probe.tools import TOOL_TESTS, measure_tool
from blockwatch.probe.upload import CollectorClient, deliver
from blockwatch.times import parse_iso


def load_config(path: Path) -> ProbeConfig:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ProbeError(f"cannot read probe config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ProbeError(f"{path}: probe config must be a JSON object")
    return ProbeConfig.from_dict(data)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(obj) + b"\n")
    sys.stdout.buffer.flush()


@dataclass(frozen=True)
class RoundLine:
    urls: list[str]
    start_time: datetime | None
    report_id: str | None
    tools: list[str]
    targets: Path | None


def _parse_round(line: bytes) -> RoundLine:
    data = orjson.loads(line)
    if not isinstance(data, dict) or not isinstance(data.get("urls"), list):
        raise ValueError('a round is {"urls": [...], "start_time": ..., "report_id": ...}')
    urls = [str(u) for u in data["urls"]]
    start = data.get("start_time")
    start_time = parse_iso(str(start)) if start else None
    report_id = data.get("report_id")
    tools = data.get("tools") or []
    if not isinstance(tools, list) or not all(t in TOOL_TESTS for t in tools):
        raise ValueError(f"tools must be a list of {', '.join(TOOL_TESTS)}")
    targets = data.get("targets")
    if tools and not targets:
        raise ValueError("tools need a targets file")
    return RoundLine(
        urls, start_time, str(report_id) if report_id else None, [str(t) for t in tools],
        Path(str(targets)) if targets else None,
    )  # fmt: skip


class ToolRounds:
    """The tool tests of the lab's rounds: targets read once per file, every test at once."""

    def __init__(self, config: ProbeConfig) -> None:
        self.config = config
        self._targets: dict[Path, ToolTargets] = {}

    async def measure(self, rnd: RoundLine) -> list[dict[str, Any]]:
        if not rnd.tools or rnd.targets is None:
            return []
        if rnd.targets not in self._targets:
            self._targets[rnd.targets] = load_targets(rnd.targets)
        targets = self._targets[rnd.targets]

        # The round's report id ends with the lab's round (``..._n1_bwlab00012``): the tool
        # tests' report ids end the same, so their measurements say they are the lab's too.
        suffix = rnd.report_id.rsplit("_", 1)[-1] if rnd.report_id else None

        async def one(test: str) -> list[dict[str, Any]]:
            docs = measure_tool(
                test, targets, self.config, start_time=rnd.start_time, report_suffix=suffix
            )
            return [d async for d in docs]

        results = await asyncio.gather(*(one(t) for t in rnd.tools))
        return [doc for docs in results for doc in docs]


@dataclass
class Upload:
    """Observatory mode: each round goes through a spool to a collector, and the round ends
    when the collector's events are decided up to it (the lab's clock ticks on that)."""

    client: CollectorClient
    spool: Spool
    settle: bool = True  # False: whoever paces the rounds settles once all are in (the lab)

    def round_done(self, docs: list[dict[str, Any]], start_time: datetime | None) -> str:
        for doc in docs:
            self.spool.add(doc)
        _, problem = deliver(self.spool, self.client)
        if problem:
            # This vantage cannot reach the collector (its network is down, say): the round
            # stays in the spool for the next delivery, and the clock need not wait for it.
            return problem
        # The round is in: the collector decides its events on it before the clock ticks.
        if self.settle and start_time is not None and self.client.settle() is None:
            return "the collector did not settle its events"
        return ""


async def serve(config: ProbeConfig, upload: Upload | None = None) -> None:
    """Read rounds from stdin until EOF, measuring each and answering on stdout."""
    loop = asyncio.get_running_loop()
    tool_rounds = ToolRounds(config)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.buffer.readline)
        if not line:
            return
        if not line.strip():
            continue
        try:
            rnd = _parse_round(line)
        except (ValueError, orjson.JSONDecodeError) as exc:
            _emit({"done": True, "error": str(exc)})
            continue
        start_time = rnd.start_time
        tools = asyncio.create_task(tool_rounds.measure(rnd))  # beside the URLs
        docs = []
        async for doc in measure_urls(
            rnd.urls, config, start_time=start_time, report_id=rnd.report_id
        ):
            _emit(doc)
            docs.append(doc)
        try:
            tool_docs = await tools
        except ProbeError as exc:  # an unreadable targets file: this round says so
            _emit({"done": True, "error": str(exc)})
            continue
        for doc in tool_docs:
            _emit(doc)
            docs.append(doc)
        problem = (
            await loop.run_in_executor(None, upload.round_done, docs, start_time) if upload else ""
        )
        _emit({"done": True, **({"upload": problem} if problem else {})})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m blockwatch.probe.worker")
    parser.add_argument("--config", type=Path, required=True, help="ProbeConfig as JSON")
    parser.add_argument("--collector", help="Observatory mode: upload each round here")
    parser.add_argument("--spool", type=Path, help="With --collector: the spool folder")
    parser.add_argument(
        "--no-settle", action="store_true", help="With --collector: do not ask it to settle"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ProbeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    upload = None
    if args.collector:
        spool = Spool(args.spool or Path("blockwatch-spool"))
        upload = Upload(CollectorClient(args.collector), spool, settle=not args.no_settle)
    try:
        asyncio.run(serve(config, upload))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
