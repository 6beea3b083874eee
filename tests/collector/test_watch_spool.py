"""A vantage's spool against a real collector: outages keep everything, in order, and a
return of the collector delivers each measurement once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from observatory import Server, free_port

from blockwatch.cli.watch import deliver
from blockwatch.probe.spool import Spool
from blockwatch.probe.upload import CollectorClient
from blockwatch.store import Store


def _docs(qa_documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = []
    for doc in qa_documents[:12]:
        d = copy.deepcopy(doc)
        d.update(probe_cc="IT", probe_asn="AS30722", software_name="blockwatch")
        d["software_version"] = "0.1.0"
        docs.append(d)
    return docs


def test_the_spool_survives_an_outage_and_delivers_each_once(
    tmp_path: Path, db: Path, qa_documents: list[dict[str, Any]]
) -> None:
    spool = Spool(tmp_path / "spool")
    docs = _docs(qa_documents)
    for doc in docs[:8]:
        spool.add(doc)
    port = free_port()
    down = CollectorClient(f"http://127.0.0.1:{port}", timeout=2)
    sent, problem = deliver(spool, down, None)
    down.close()
    assert sent == 0 and problem and len(spool) == 8
    # A restart of the vantage: a new Spool over the same folder keeps the order going.
    spool = Spool(tmp_path / "spool")
    for doc in docs[8:]:
        spool.add(doc)
    assert [p.name for p, _ in spool.pending()] == [f"{i:012d}.json" for i in range(1, 13)]
    db.parent.mkdir(parents=True, exist_ok=True)
    server = Server(db, port).start()
    try:
        client = CollectorClient(server.url)
        assert deliver(spool, client, None) == (12, "")
        for doc in docs[:3]:  # a vantage that lost its acknowledgements sends them again
            spool.add(doc)
        assert deliver(spool, client, None) == (3, "")
        client.close()
    finally:
        server.stop()
    assert len(spool) == 0
    with Store(db, read_only=True) as store:
        assert store.count("measurements") == 12
