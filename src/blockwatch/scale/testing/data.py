"""Measurements for the mimic and the bench: the real ones in ../shared/data, and copies of
them planted in another country and time with fresh ids (as OONI's archive would hold them)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from blockwatch.errors import MalformedMeasurement
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import RawDocument, iter_documents

__all__ = ["PK_NETWORKS", "load_real_measurements", "ooni_uid", "replant"]

# Folders of ../shared/data/ooni holding whole measurements (labels and series do not).
MEASUREMENT_FOLDERS: Final = ("qa", "manual", "fastpath", "explorer")
PK_NETWORKS: Final = ("AS17557", "AS9541", "AS135407", "AS140499", "AS45595")


def load_real_measurements(ooni_dir: Path) -> list[bytes]:
    """The JSON text, on one line, of every readable measurement under ``ooni_dir``."""
    paths = [ooni_dir / name for name in MEASUREMENT_FOLDERS if (ooni_dir / name).is_dir()]
    texts = []
    for item in iter_documents(paths):
        if not isinstance(item, RawDocument):
            continue
        try:
            parse_measurement(item.doc, item.source, item.line)
        except MalformedMeasurement:
            continue  # the fixtures of bad input: not what an archive holds
        # One line each (a JSONL file's line): pretty-printed files are re-encoded compactly.
        raw = item.raw
        texts.append(raw if raw is not None and b"\n" not in raw else orjson.dumps(item.doc))
    return texts


def ooni_uid(moment: datetime, cc: str, test_name: str, salt: str) -> str:
    """A measurement_uid in OONI's spelling: time, country, test, 16 hex digits."""
    digest = hashlib.sha256(salt.encode()).hexdigest()[:16]
    return (
        f"{moment:%Y%m%d%H%M%S}.{moment.microsecond:06d}_{cc}_{test_name.replace('_', '')}_{digest}"
    )


def replant(
    texts: Sequence[bytes],
    count: int,
    *,
    country: str,
    since: datetime,
    until: datetime,
    networks: Sequence[str] = PK_NETWORKS,
    seed: int = 1,
) -> list[bytes]:
    """``count`` copies of ``texts`` (cycled) measured in ``country`` at times spread over
    [since, until), on ``networks``, each with a fresh report_id and measurement_uid."""
    rng = random.Random(seed)
    span = (until - since).total_seconds()
    docs: list[dict[str, Any]] = [orjson.loads(t) for t in texts]
    out = []
    for i in range(count):
        doc = dict(docs[i % len(docs)])
        moment = (since + timedelta(seconds=rng.random() * span)).astimezone(UTC)
        moment = moment.replace(microsecond=i % 1_000_000)
        test = str(doc.get("test_name") or "web_connectivity")
        asn = networks[i % len(networks)]
        doc["probe_cc"] = country
        doc["probe_asn"] = asn
        doc["measurement_start_time"] = moment.strftime("%Y-%m-%d %H:%M:%S")
        doc["test_start_time"] = doc["measurement_start_time"]
        doc["report_id"] = (
            f"{moment:%Y%m%dT%H%M%S}Z_{test.replace('_', '')}_{country}_{asn[2:]}_n1_"
            f"{hashlib.sha256(f'{seed}:{i}'.encode()).hexdigest()[:16]}"
        )
        doc["measurement_uid"] = ooni_uid(moment, country, test, f"{seed}:{i}")
        out.append(orjson.dumps(doc))
    return out
