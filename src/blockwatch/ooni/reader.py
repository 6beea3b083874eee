"""Reading OONI measurement files: one JSON document at a time, bad records in place.

Accepted inputs: ``.json`` (one measurement, a JSON list of them, JSONL content, or a
recorded OONI explorer API response whose ``body`` holds the raw measurement as a string),
``.jsonl``, ``.jsonl.gz``, ``.json.gz``, ``.jsonc`` (``//`` comment lines) and
directories (walked recursively in sorted order, e.g. OONI's raw layout
``YYYYMMDD/HH/CC/testname/*.jsonl.gz``).

Lines may end in LF, CRLF or a lone CR, and a UTF-8 byte-order mark at the start of a file is
ignored (``lines``). A ``.json`` holding a JSON list is streamed element by element
(``jsonarray``), and JSONL saved as ``.json`` line by line, so the size cap applies to one
record, never to a whole file.

A bad record never stops the walk: it is yielded as a ``MalformedMeasurement`` in place,
naming its source and line, and the good records around it are still yielded. Only a path
that cannot be read at all raises ``InputError``.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import re
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from blockwatch.errors import InputError, MalformedMeasurement
from blockwatch.ooni.jsonarray import Element, iter_array, salvage
from blockwatch.ooni.lines import (
    READ_ERRORS,
    ChunkSource,
    LineEvent,
    is_blank,
    read_chunks,
    split_lines,
)

# A real measurement line is rarely above a few MiB (OONI caps bodies at 512 KiB per
# request); a line far larger is reported rather than loaded blindly into memory.
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024

SUFFIXES = (".jsonl.gz", ".json.gz", ".jsonl", ".json", ".jsonc")
_WS: Final = b" \t\r\n"
_BREAKS: Final = re.compile(rb"\r\n|\r|\n")


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


def iter_documents(
    paths: Iterable[Path | str], *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[Item]:
    """Yield every document of the given files and directories, errors in place."""
    for path in expand_paths(paths):
        yield from iter_file(path, max_line_bytes=max_line_bytes)


def expand_paths(
    paths: Iterable[Path | str], on_error: Callable[[InputError], None] | None = None
) -> list[Path]:
    """The input files under the given files and directories, in reading order (a directory's
    files with a known suffix, sorted); InputError for a path that does not exist. A
    directory inside that cannot be listed is an InputError naming it too: raised, or, given
    ``on_error``, handed to it while the walk goes on (never skipped silently)."""
    files: list[Path] = []
    for raw_path in paths:
        path = Path(raw_path)
        if path.is_dir():
            files.extend(sorted(_walk(path, on_error)))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(str(path), "no such file or directory")
    return files


def _walk(root: Path, on_error: Callable[[InputError], None] | None) -> Iterator[Path]:
    def unlistable(exc: OSError) -> None:
        err = InputError(str(exc.filename or root), f"cannot list directory: {exc.strerror}")
        if on_error is None:
            raise err from exc
        on_error(err)

    for folder, _, names in os.walk(root, onerror=unlistable):
        for name in names:
            if name.endswith(SUFFIXES):
                candidate = Path(folder, name)
                if candidate.is_file():  # not a fifo or a socket with a measurement's name
                    yield candidate


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
            fh: io.BufferedReader | gzip.GzipFile = gzip.GzipFile(path, "rb")
        else:
            # A large buffer: measurements are ~10 KiB lines, past the 8 KiB default.
            fh = io.BufferedReader(io.FileIO(path, "rb"), buffer_size=1 << 20)
        # (each is closed by the `with` below)
    except OSError as exc:
        raise InputError(source, f"cannot open: {exc}") from exc
    with fh:
        if name.endswith((".jsonl", ".jsonl.gz")):
            yield from iter_lines(fh, source, max_line_bytes=max_line_bytes)
        elif name.endswith(".jsonc"):
            yield from _iter_jsonc(fh, source, max_line_bytes)
        else:
            yield from _iter_json(fh, source, max_line_bytes)


def iter_lines(
    fh: ChunkSource, source: str, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[Item]:
    """Yield one document per non-blank line of a binary stream (JSONL; LF, CRLF or CR line
    ends, a leading byte-order mark ignored)."""
    events = split_lines(read_chunks(fh), max_line_bytes)
    yield from _documents_of_lines(events, source, max_line_bytes)


def _documents_of_lines(
    events: Iterator[LineEvent], source: str, max_line_bytes: int
) -> Iterator[Item]:
    for event in events:
        if event.error is not None:
            yield MalformedMeasurement(source, event.lineno, event.error)
            return
        if event.too_long:
            reason = f"line longer than the {max_line_bytes}-byte cap, skipped"
            yield MalformedMeasurement(source, event.lineno, reason)
        elif not is_blank(event.data):
            yield decode_document(event.data, source, event.lineno, keep_raw=True)


def _iter_json(fh: ChunkSource, source: str, max_bytes: int) -> Iterator[Item]:
    """A .json file: one document, a JSON array of them (streamed element by element, so the
    cap is per element), or JSONL saved as .json (streamed line by line)."""
    chunks = read_chunks(fh)
    head = b""
    try:
        for chunk in chunks:
            head += chunk
            if head.lstrip(_WS) or len(head) > max_bytes:
                break
        if head.lstrip(_WS)[:1] == b"[":
            yield from _documents_of_elements(
                iter_array(chunks, head, max_bytes), source, max_bytes
            )
            return
        parts, size = [head], len(head)
        for chunk in chunks:
            parts.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                break
        head = b"".join(parts)
    except READ_ERRORS as exc:
        yield MalformedMeasurement(source, None, f"unreadable data: {exc}")
        return
    if len(head) <= max_bytes:
        yield from _whole_or_lines(head, source, max_bytes)
        return
    # Larger than one record may be: JSONL saved as .json, or one value over the cap.
    first = next((ln for ln in _BREAKS.split(head) if not is_blank(ln)), b"")
    if not _is_object(first):
        yield MalformedMeasurement(
            source, None, f"one JSON value larger than the {max_bytes}-byte cap, skipped"
        )
        return
    rest = itertools.chain([head], chunks)
    yield from _documents_of_lines(split_lines(rest, max_bytes), source, max_bytes)


def _documents_of_elements(
    elements: Iterator[Element], source: str, max_bytes: int, nested: bool = True
) -> Iterator[Item]:
    for element in elements:
        if element.error is not None:
            yield MalformedMeasurement(source, element.index, element.error)
        elif nested and element.data[:1] == b"[":
            # A list in the list (a stray bracket at the start, say): its measurements, once.
            inner = iter_array(iter(()), element.data, max_bytes)
            yield from _documents_of_elements(inner, source, max_bytes, nested=False)
        elif isinstance(element.value, dict):
            yield _as_document(element.value, source, element.index, element.data)
        else:
            yield decode_document(element.data, source, element.index, keep_raw=True)


def _whole_or_lines(data: bytes, source: str, max_bytes: int) -> Iterator[Item]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        # Not one JSON value: maybe JSONL saved as .json (OONI's oonireport testdata is).
        lines = [ln for ln in _BREAKS.split(data) if not is_blank(ln)]
        # JSONL when most lines are objects on their own; a damaged pretty-printed value has
        # hardly any (read as lines it gave hundreds of false "malformed" lines).
        if len(lines) > 1 and 2 * sum(_is_object(ln) for ln in lines) >= len(lines):
            yield from iter_lines(io.BytesIO(data), source, max_line_bytes=max_bytes)
            return
        # A damaged list (its opening bracket lost, say): keep the whole measurements in it.
        found = salvage(data, max_bytes)
        if not found:
            yield decode_document(data, source, None)
        yield from _documents_of_elements(iter(found), source, max_bytes)
        return
    if isinstance(value, list):
        for index, item in enumerate(value, start=1):
            yield _as_document(item, source, index)
        return
    yield _as_document(value, source, None, data.strip(_WS))


def _iter_jsonc(fh: ChunkSource, source: str, max_bytes: int) -> Iterator[Item]:
    """A .jsonc file: one document with ``//`` comment lines (small: read whole)."""
    try:
        data = b"".join(read_chunks(fh))
    except READ_ERRORS as exc:
        yield MalformedMeasurement(source, None, f"unreadable data: {exc}")
        return
    if len(data) > max_bytes:
        yield MalformedMeasurement(source, None, f"file larger than the {max_bytes}-byte cap")
        return
    data = b"\n".join(b"" if ln.lstrip().startswith(b"//") else ln for ln in _BREAKS.split(data))
    yield from _whole_or_lines(data, source, max_bytes)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


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
