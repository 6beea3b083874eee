"""Reading OONI measurement files: one JSON document at a time, bad records in place.

Accepted inputs: ``.json`` (one measurement, a JSON list of them, JSONL content, or a
recorded OONI explorer API response whose ``body`` holds the raw measurement as a string),
``.jsonl``, ``.jsonl.gz``, ``.json.gz``, ``.jsonc`` (``//`` comment lines) and
directories (walked recursively in sorted order, e.g. OONI's raw layout
``YYYYMMDD/HH/CC/testname/*.jsonl.gz``).

A bad record never stops the walk: it is yielded as a ``MalformedMeasurement`` in place,
naming its source and line, and the good records around it are still yielded. Only a path
that cannot be read at all raises ``InputError``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from blockwatch.errors import InputError, MalformedMeasurement

# A real measurement line is rarely above a few MiB (OONI caps bodies at 512 KiB per
# request); a line far larger is reported rather than loaded blindly into memory.
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024

SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".jsonc")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One decoded JSON document and where it came from (line is 1-based, None = whole file).

    ``raw`` is the JSON text the document was decoded from, when the reader has it as is (a
    JSONL line without its line break, a one-document file): the store keeps those bytes
    rather than re-encoding ``doc``. None for documents taken out of a list or an explorer
    response, and for documents made in memory."""

    source: str
    line: int | None
    doc: dict[str, Any]
    raw: bytes | None = None


Item = RawDocument | MalformedMeasurement


class _LineSource(Protocol):
    def readline(self, limit: int = -1, /) -> bytes: ...


def iter_documents(
    paths: Iterable[Path | str], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[Item]:
    """Yield every document of the given files and directories, errors in place."""
    for path in expand_paths(paths):
        yield from iter_file(path, max_line_bytes=max_line_bytes)


def expand_paths(paths: Iterable[Path | str]) -> list[Path]:
    """The input files under the given files and directories, in reading order (a directory's
    files with a known suffix, sorted); InputError for a path that does not exist."""
    files: list[Path] = []
    for raw_path in paths:
        path = Path(raw_path)
        if path.is_dir():
            try:
                found = [p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)]
            except OSError as exc:
                raise InputError(str(path), f"cannot list directory: {exc}") from exc
            files.extend(sorted(found))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    return files


def uncompressed_size(path: Path) -> int:
    """Bytes of JSON in a file; for gzip, the ISIZE trailer (size mod 2**32, fine for a bar)."""
    size = path.stat().st_size
    if path.name.endswith(".gz") and size >= 18:
        with open(path, "rb") as fh:
            fh.seek(-4, 2)
            (isize,) = struct.unpack("<I", fh.read(4))
        return max(int(isize), 1)
    return max(size, 1)


def iter_file(path: Path, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Item]:
    """Yield the documents of one file; the suffix decides how it is read."""
    name = path.name
    source = str(path)
    try:
        if name.endswith(".gz"):
            fh: IO[bytes] | gzip.GzipFile = gzip.open(path, "rb")  # noqa: SIM115 - closed below
        else:
            # A large buffer: measurements are ~10 KiB lines, past the 8 KiB default, and
            # readline() then paid for several raw reads per line.
            fh = open(path, "rb", buffering=1 << 20)  # noqa: SIM115 - closed by `with` below
    except OSError as exc:
        raise InputError(source, f"cannot open: {exc}") from exc
    with fh:
        if name.endswith((".jsonl", ".jsonl.gz")):
            yield from iter_lines(fh, source, max_line_bytes=max_line_bytes)
        else:
            yield from _iter_whole(fh, source, max_line_bytes, comments=name.endswith(".jsonc"))


def iter_lines(
    fh: _LineSource, source: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[Item]:
    """Yield one document per non-blank line of a binary stream (JSONL)."""
    lineno = 0
    while True:
        lineno += 1
        try:
            line = fh.readline(max_line_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            # Truncated or corrupt gzip: everything before was yielded; report and stop.
            yield MalformedMeasurement(source, lineno, f"unreadable compressed data: {exc}")
            return
        if not line:
            return
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            err = _skip_rest_of_line(fh, source, lineno, max_line_bytes)
            yield err
            if err.reason.startswith("unreadable"):
                return
            continue
        # strip() copies the ~10 KiB line: only a line starting with whitespace can be blank.
        if line[:1].isspace() and not line.strip():
            continue
        yield decode_document(line, source, lineno, keep_raw=True)


def _skip_rest_of_line(
    fh: _LineSource, source: str, lineno: int, max_line_bytes: int
) -> MalformedMeasurement:
    try:
        while True:
            chunk = fh.readline(_CHUNK)
            if not chunk or chunk.endswith(b"\n"):
                break
    except (OSError, EOFError, zlib.error) as exc:
        return MalformedMeasurement(source, lineno, f"unreadable compressed data: {exc}")
    return MalformedMeasurement(
        source, lineno, f"line longer than the {max_line_bytes}-byte cap, skipped"
    )


def _iter_whole(
    fh: IO[bytes] | gzip.GzipFile, source: str, max_bytes: int, *, comments: bool
) -> Iterator[Item]:
    try:
        data = fh.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        yield MalformedMeasurement(source, None, f"unreadable data: {exc}")
        return
    if len(data) > max_bytes:
        yield MalformedMeasurement(source, None, f"file larger than the {max_bytes}-byte cap")
        return
    if comments:
        data = b"\n".join(b"" if ln.lstrip().startswith(b"//") else ln for ln in data.split(b"\n"))
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        # Not one JSON value: maybe JSONL saved as .json (OONI's oonireport testdata is).
        if data.count(b"\n") > 1:
            yield from iter_lines(_BytesLines(data), source, max_line_bytes=max_bytes)
        else:
            yield decode_document(data, source, None)
        return
    if isinstance(value, list):
        for index, item in enumerate(value, start=1):
            yield _as_document(item, source, index)
        return
    yield _as_document(value, source, None, data.strip() if not comments else None)


def decode_document(
    data: bytes | str, source: str, line: int | None, *, keep_raw: bool = False
) -> Item:
    """Decode one JSON text into a RawDocument, or the error saying why not. ``keep_raw``:
    the document carries ``data`` (bytes, without its line break) as its raw text."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return MalformedMeasurement(source, line, f"not valid JSON: {exc}")
    except RecursionError as exc:  # orjson caps depth itself; this is belt and braces
        return MalformedMeasurement(source, line, f"JSON nested too deeply: {exc}")
    raw = None
    if keep_raw and isinstance(data, bytes):
        raw = data.rstrip(b"\r\n") if data.endswith(b"\n") else data
    return _as_document(value, source, line, raw)


def _as_document(value: Any, source: str, line: int | None, raw: bytes | None = None) -> Item:
    if not isinstance(value, dict):
        return MalformedMeasurement(
            source, line, f"expected a JSON object, found {type(value).__name__}"
        )
    body = value.get("body")
    if isinstance(body, str) and "contentType" in value and "test_name" not in value:
        return _unwrap_explorer(body, source, line)
    return RawDocument(source, line, value, raw)


def _unwrap_explorer(body: str, source: str, line: int | None) -> Item:
    """An OONI explorer API response: the measurement is a JSON string inside a JSON string."""
    try:
        meta = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return MalformedMeasurement(source, line, f"explorer body is not JSON: {exc}")
    if not isinstance(meta, dict):
        return MalformedMeasurement(source, line, "explorer body is not a JSON object")
    raw = meta.get("raw_measurement")
    if isinstance(raw, str):
        item = decode_document(raw, source, line)
        if isinstance(item, RawDocument) and "measurement_uid" not in item.doc:
            uid = meta.get("measurement_uid")
            if isinstance(uid, str) and uid:
                item.doc["measurement_uid"] = uid
        return item
    if isinstance(raw, dict):
        return RawDocument(source, line, raw)
    return MalformedMeasurement(source, line, "explorer response holds no raw_measurement")


class _BytesLines:
    """A minimal readline() over bytes, so iter_lines can walk JSONL saved as .json."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def readline(self, limit: int = -1) -> bytes:
        end = self._data.find(b"\n", self._pos)
        end = len(self._data) if end < 0 else end + 1
        if limit >= 0:
            end = min(end, self._pos + limit)
        line = self._data[self._pos : end]
        self._pos = end
        return line
