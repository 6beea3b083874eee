"""The check that a probe's OONI summary keys are the analyzer's (shared by the probe tests
and the lab's technique tests)."""

from __future__ import annotations

from typing import Any

import orjson

from blockwatch.analysis.ooni_summary import SUMMARY_KEYS, ooni_summary


def summary_mismatch(doc: dict[str, Any]) -> dict[str, Any]:
    """{key: (probe's value, analyzer's value)} for every key where the two differ, on the
    document as stored (a JSON round trip), so nothing held in memory only can count."""
    stored = orjson.loads(orjson.dumps(doc))
    tk = stored["test_keys"]
    summary = ooni_summary(tk, stored["input"], stored["probe_cc"])
    out = {k: (tk.get(k), summary.keys[k]) for k in SUMMARY_KEYS if tk.get(k) != summary.keys[k]}
    blocked = [(e.get("status") or {}).get("blocked") for e in tk.get("tcp_connect") or []]
    if blocked != summary.tcp_blocked:
        out["tcp_connect.status.blocked"] = (blocked, summary.tcp_blocked)
    return out
