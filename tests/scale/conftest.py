"""The loopback OONI archive, filled with the real measurements of ../shared/data and copies
of them planted in Pakistan in February 2024."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from blockwatch.scale.testing import load_real_measurements, replant
from scalehelpers import FEB_2024


@pytest.fixture(scope="session")
def archive_texts(ooni_data: Path) -> list[bytes]:
    """The real measurements as they are, plus 240 of them replanted in PK, Feb 2024."""
    real = load_real_measurements(ooni_data)
    if not real:
        pytest.skip(f"no readable measurements under {ooni_data}")
    return real + replant(real, 240, country="PK", since=FEB_2024[0], until=FEB_2024[1])


@pytest.fixture(scope="session")
def input_dir(archive_texts: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six gzipped JSONL files of real and replanted measurements, with a bad line, a
    measurement present in two files, and one id in two files with different texts (the first
    file's is kept)."""
    folder = tmp_path_factory.mktemp("dask-input")
    more = replant(archive_texts, 600, country="PK", since=FEB_2024[0], until=FEB_2024[1], seed=7)
    texts = archive_texts + more
    home = len(archive_texts) % 6  # the file that holds more[0]
    edited = orjson.dumps({**orjson.loads(more[0]), "test_runtime": 99.5})
    for n in range(6):
        chunk = texts[n::6]
        if n == 2:
            chunk = [*chunk[:5], b'{"not": "a measurement"', *chunk[5:]]
        if n == 4:
            chunk = [*chunk, texts[0]]  # also in file 0
        if n == (5 if home != 5 else 0):
            chunk = [edited, *chunk]
        (folder / f"part-{n}.jsonl.gz").write_bytes(gzip.compress(b"\n".join(chunk) + b"\n"))
    return folder
