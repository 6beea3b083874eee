"""`blockwatch probe` and the lab worker as processes, against the loopback internet;
the round trip through `blockwatch ingest` gives the probe's own verdicts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from blockwatch.analysis.verdict import analyze_document
from blockwatch.probe.testing.dnsserver import NXDOMAIN
from blockwatch.probe.testing.loopnet import BLOCKPAGE_IP, LoopNet
from blockwatch.store import Store


async def run(*args: str, stdin: bytes | None = None, timeout: float = 60) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    return proc.returncode or 0, out.decode()


async def censored_urls(net: LoopNet) -> dict[str, str]:
    """Sites censored by the ISP resolver (the CLI probe does not bind a source address)."""
    urls = {
        "ok": await net.site("fine.test"),
        "nxdomain": await net.site("gone-for-you.test"),
        "bogon": await net.site("bogon.test"),
        "blockpage": await net.site("news.test"),
    }
    net.isp_dns.zone["gone-for-you.test"] = NXDOMAIN
    net.isp_dns.zone["bogon.test"] = ["127.0.0.99"]
    await net.blockpage_server(port=urlsplit(urls["blockpage"]).port or 80)
    net.isp_dns.zone["news.test"] = [BLOCKPAGE_IP]
    return urls


async def test_probe_command_writes_ooni_jsonl_shows_verdicts_and_round_trips_ingest(
    net: LoopNet, tmp_path: Path
) -> None:
    assert net.control is not None
    urls = await censored_urls(net)
    test_list = tmp_path / "list.csv"
    test_list.write_text(
        "url,category_code,category_description,date_added,source,notes\n"
        + "".join(f"{u},NEWS,News,2024-01-01,test,\n" for u in list(urls.values())[1:])
    )
    out = tmp_path / "m.jsonl"
    code, text = await run(
        "-m", "blockwatch", "probe", "--url", urls["ok"], "--list", str(test_list),
        "--control", net.control.url, "--resolver", net.isp_dns.address, "--no-system-dns",
        "--cc", "PK", "--asn", "17557", "--ca-file", str(net.ca.cert_file), "--concurrency", "4",
        "--timeout-scale", "0.2", "--out", str(out), "--db", str(tmp_path / "a.duckdb"),
        "--no-progress",
    )  # fmt: skip
    assert code == 0, text
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(d["input"] for d in docs) == sorted(urls.values())
    assert {d["probe_cc"] for d in docs} == {"PK"} and {d["probe_asn"] for d in docs} == {"AS17557"}
    mine = {d["input"]: analyze_document(d) for d in docs}
    expected = {
        urls["ok"]: ("ok", None),
        urls["nxdomain"]: ("blocked", "dns.nxdomain"),
        urls["bogon"]: ("blocked", "dns.bogon"),
        urls["blockpage"]: ("blocked", "dns.blockpage_ip"),
    }
    assert {u: (v.outcome, v.method) for u, v in mine.items()} == expected
    for method in ("dns.nxdomain", "dns.bogon", "dns.blockpage_ip"):
        assert method in text  # the verdict table
    code, text = await run(
        "-m", "blockwatch", "ingest", str(out), "--db", str(tmp_path / "b.duckdb"), "--no-progress"
    )  # fmt: skip
    assert code == 0, text
    for db in ("a.duckdb", "b.duckdb"):
        with Store(tmp_path / db, read_only=True) as store:
            stored = {v.input: (v.outcome, v.method) for v in store.verdicts()}
        assert stored == expected, db


async def test_worker_answers_each_round_then_done_and_exits_on_eof(
    net: LoopNet, tmp_path: Path
) -> None:
    urls = await censored_urls(net)
    config = net.probe_config()
    data = config.to_dict()
    config_file = tmp_path / "probe.json"
    config_file.write_bytes(orjson.dumps(data))
    rounds = b"".join(
        orjson.dumps({"urls": [urls[k]], "start_time": t, "report_id": f"r-{k}"}) + b"\n"
        for k, t in (("ok", "2024-02-17T12:00:00Z"), ("nxdomain", "2024-02-17T18:00:00Z"))
    )
    code, text = await run(
        "-m", "blockwatch.probe.worker", "--config", str(config_file),
        stdin=rounds + b"this is not json\n",
    )  # fmt: skip
    assert code == 0, text
    lines = [orjson.loads(line) for line in text.splitlines()]
    assert [set(x) == {"done"} for x in lines[1::2][:2]] == [True, True]
    first, second = lines[0], lines[2]
    assert first["measurement_start_time"] == "2024-02-17 12:00:00"
    assert first["report_id"] == "r-ok"
    assert analyze_document(first).outcome == "ok"
    assert second["measurement_start_time"] == "2024-02-17 18:00:00"
    assert analyze_document(second).method == "dns.nxdomain"
    assert lines[4]["done"] is True and "error" in lines[4]


async def test_ctrl_c_stops_cleanly_and_keeps_every_finished_measurement(
    net: LoopNet, tmp_path: Path
) -> None:
    import signal

    assert net.control is not None
    fast = [await net.site(f"fast{i}.test") for i in range(3)]
    slow = [await net.site(f"slow{i}.test", behaviour="trickle", victim=None) for i in range(2)]
    out = tmp_path / "m.jsonl"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "blockwatch", "probe",
        *(a for u in fast + slow for a in ("--url", u)),
        "--control", net.control.url, "--resolver", net.isp_dns.address, "--no-system-dns",
        "--concurrency", "5", "--out", str(out), "--no-store", "--no-progress",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    for _ in range(100):  # wait until the fast ones are written
        await asyncio.sleep(0.1)
        if out.exists() and len(out.read_bytes().splitlines()) >= 3:
            break
    proc.send_signal(signal.SIGINT)
    text = (await asyncio.wait_for(proc.communicate(), 20))[0].decode()
    assert proc.returncode == 130, text
    assert "interrupted" in text
    docs = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(d["input"] for d in docs) == sorted(fast)
    assert all(analyze_document(d).outcome == "ok" for d in docs)


async def test_every_kind_of_measurement_round_trips_through_ingest_with_the_same_verdict(
    net: LoopNet, tmp_path: Path
) -> None:
    from blockwatch.cli.session import analyse
    from blockwatch.probe.runner import measure_urls

    urls = list((await censored_urls(net)).values())
    for name, tls, behaviour in [
        ("reset.test", True, "tls_reset"),
        ("mitm.test", True, "tls_mitm"),
        ("page.test", False, "blockpage"),
        ("rst.test", False, "http_reset"),
        ("stall.test", True, "tls_stall"),
        ("slow.test", False, "trickle"),
    ]:
        urls.append(await net.site(name, tls=tls, behaviour=behaviour))
    docs = [d async for d in measure_urls(urls, net.probe_config(concurrency=10))]
    out = tmp_path / "all.jsonl"
    out.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    mine = {v.input: (v.outcome, v.method) for v in analyse(docs, str(out))}
    assert len(mine) == len(urls)
    code, text = await run(
        "-m", "blockwatch", "ingest", str(out), "--db", str(tmp_path / "c.duckdb"), "--no-progress"
    )  # fmt: skip
    assert code == 0, text
    with Store(tmp_path / "c.duckdb", read_only=True) as store:
        stored = {v.input: (v.outcome, v.method) for v in store.verdicts()}
    assert stored == mine
    assert {m for _, m in mine.values()} >= {"tls.reset", "tls.mitm", "http.blockpage"}
