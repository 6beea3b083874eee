"""Measurements for the mimic and the bench: the real ones in ../shared/data, and copies of
them planted in another country and time with fresh ids (as OONI's archive would hold them)."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import orjson

from blockwatch.errors import MalformedMeasurement
from blockwatch.ooni.measurement import parse_measurement
from blockwatch.ooni.reader import RawDocument, iter_documents

__all__ = ["PK_NETWORKS", "load_real_measurements", "ooni_uid", "replant", "replant_iter"]

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


# The keys replant sets, in the order it sets them (a key the original lacks is appended in
# this order, as assigning to a dict would), and the placeholder each template holds instead.
_PLANTED: Final = (
    "probe_cc",
    "probe_asn",
    "measurement_start_time",
    "test_start_time",
    "report_id",
    "measurement_uid",
)
_MARK: Final = re.compile(rb'"@@bw-planted-(\d)@@"')


@dataclass(frozen=True)
class _Template:
    """One measurement serialised once, cut at the planted values: a copy is a join."""

    pieces: tuple[bytes, ...]  # the text between the planted values
    order: tuple[int, ...]  # which planted value follows each piece but the last
    test: str


def _template(text: bytes) -> _Template:
    doc: dict[str, Any] = orjson.loads(text)
    test = str(doc.get("test_name") or "web_connectivity")
    for i, key in enumerate(_PLANTED):
        doc[key] = f"@@bw-planted-{i}@@"
    parts = _MARK.split(orjson.dumps(doc))
    return _Template(tuple(parts[0::2]), tuple(int(n) for n in parts[1::2]), test)


def replant_iter(
    texts: Sequence[bytes],
    count: int,
    *,
    country: str,
    since: datetime,
    until: datetime,
    networks: Sequence[str] = PK_NETWORKS,
    seed: int = 1,
) -> Iterator[bytes]:
    """``replant``'s copies one at a time, without parsing or serialising a document per copy
    (each text is serialised once, as a template): what a bench makes millions of."""
    rng = random.Random(seed)
    span = (until - since).total_seconds()
    templates = [_template(t) for t in texts]
    for i in range(count):
        template = templates[i % len(templates)]
        moment = (since + timedelta(seconds=rng.random() * span)).astimezone(UTC)
        moment = moment.replace(microsecond=i % 1_000_000)
        test, asn = template.test, networks[i % len(networks)]
        started = moment.strftime("%Y-%m-%d %H:%M:%S")
        report_id = (
            f"{moment:%Y%m%dT%H%M%S}Z_{test.replace('_', '')}_{country}_{asn[2:]}_n1_"
            f"{hashlib.sha256(f'{seed}:{i}'.encode()).hexdigest()[:16]}"
        )
        uid = ooni_uid(moment, country, test, f"{seed}:{i}")
        # Plain ASCII without quotes or backslashes: the same bytes orjson would write.
        values = [f'"{v}"'.encode() for v in (country, asn, started, started, report_id, uid)]
        out = [template.pieces[0]]
        for which, piece in zip(template.order, template.pieces[1:], strict=True):
            out += (values[which], piece)
        yield b"".join(out)


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
    return list(
        replant_iter(
            texts, count, country=country, since=since, until=until, networks=networks, seed=seed
        )
    )
