"""Helpers shared by the scale tests and bench/scale.py: comparing two stores' contents."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blockwatch.store import Store

FEB_2024 = (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))


def store_contents(db: Path) -> dict[str, Any]:
    """What a store holds, independent of where files were cached and of block numbering:
    verdict rows, measurement key columns, raw texts, events."""
    with Store(db, read_only=True) as store:
        con = store.cursor()
        verdicts = con.execute("SELECT * FROM verdicts ORDER BY measurement_id").fetchall()
        measurements = con.execute(
            "SELECT measurement_id, report_id, test_name, input, domain, probe_cc, probe_asn,"
            " measured_at FROM measurements ORDER BY measurement_id"
        ).fetchall()
        texts = store.raw_texts([row[0] for row in measurements])
        events = con.execute("SELECT * FROM events ORDER BY event_id").fetchall()
    return {"verdicts": verdicts, "measurements": measurements, "texts": texts, "events": events}
