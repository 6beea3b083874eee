"""Splitting a byte stream into JSONL lines: LF, CRLF and CR-only line ends, a UTF-8 byte-order
mark at the start, a cap on one line, and a damaged stream reported where it breaks.

A JSON text never holds a raw CR or LF inside a string (they must be escaped), so splitting on
either cannot cut a record in two: it only separates records, whatever the file's convention.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Final, Protocol

BOM: Final = b"\xef\xbb\xbf"
CHUNK: Final = 1 << 20
_BREAKS: Final = re.compile(rb"\r\n|\r|\n")

# A stream failing to deliver its bytes: a truncated or corrupt gzip, an I/O error.
READ_ERRORS: Final = (OSError, EOFError, zlib.error)


class ChunkSource(Protocol):
    """A binary stream read a chunk at a time (a file, a GzipFile, io.BytesIO)."""

    def read1(self, size: int = -1, /) -> bytes: ...


class LineEvent:
    """What the splitter found at one line number: the line, an over-cap line, or a break."""

    __slots__ = ("data", "error", "lineno", "too_long")

    def __init__(
        self, lineno: int, data: bytes = b"", too_long: bool = False, error: str | None = None
    ) -> None:
        self.lineno = lineno
        self.data = data
        self.too_long = too_long
        self.error = error


def read_chunks(fh: ChunkSource, size: int = CHUNK) -> Iterator[bytes]:
    """The stream's bytes a chunk at a time, a leading byte-order mark removed. A read error
    propagates (READ_ERRORS): the caller says where it happened. ``read1`` makes at most one
    read of the underlying stream, so what a damaged gzip yielded before its break is kept."""
    first = True
    while True:
        chunk = fh.read1(size)
        if first:
            while chunk and len(chunk) < len(BOM) and BOM.startswith(chunk):
                more = fh.read1(size)
                if not more:
                    break
                chunk += more
            chunk = chunk.removeprefix(BOM)
            first = False
        if not chunk:
            return
        yield chunk


def split_lines(chunks: Iterator[bytes], max_line_bytes: int) -> Iterator[LineEvent]:
    """Each line (without its end) with its 1-based number; a line over ``max_line_bytes`` is
    reported (``too_long``) without being kept; a read error ends the walk with ``error``."""
    parts: list[bytes] = []
    held = 0  # bytes in parts
    too_long = False
    lineno = 0
    crlf_split = False  # the last chunk ended in CR: a LF opening this one ends no line
    while True:
        try:
            chunk = next(chunks, None)
        except READ_ERRORS as exc:
            yield LineEvent(lineno + 1, error=f"unreadable compressed data: {exc}")
            return
        if chunk is None:
            break
        if crlf_split and chunk[:1] == b"\n":
            chunk = chunk[1:]
        crlf_split = chunk[-1:] == b"\r"
        pieces = _BREAKS.split(chunk) if b"\r" in chunk else chunk.split(b"\n")
        for piece in pieces[:-1]:
            lineno += 1
            if too_long or held + len(piece) > max_line_bytes:
                yield LineEvent(lineno, too_long=True)
            else:
                yield LineEvent(lineno, b"".join((*parts, piece)) if parts else piece)
            parts, held, too_long = [], 0, False
        tail = pieces[-1]
        if not too_long:
            held += len(tail)
            if held > max_line_bytes:
                parts, too_long = [], True  # dropped now: a huge line is never held whole
            elif tail:
                parts.append(tail)
    if parts or too_long:
        lineno += 1
        yield LineEvent(lineno, b"".join(parts), too_long=too_long)


def is_blank(line: bytes) -> bool:
    # strip() copies the ~10 KiB line: only a line starting with whitespace can be blank.
    return not line or (line[:1].isspace() and not line.strip())
