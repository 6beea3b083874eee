"""Streaming a JSON array of measurements element by element, whatever the file's size.

The scanner finds each element's bytes without decoding them: it skips strings whole (one
regular-expression match each, escapes included) and counts brackets, so an element ends at the
next comma or closing bracket at the array's own depth. Each element is then decoded alone, and
its bytes are kept as its raw text. Memory holds one element (up to the cap) plus one chunk.

A damaged element (a stray quote or bracket) can throw the bracket count off for what follows;
the scanner then looks, inside the bytes it took for that element, for the next ``{`` that opens
a whole measurement followed by a comma or the closing bracket, reports the bytes before it as
one bad record, and goes on from there: untouched measurements after the damage are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

# A string (group 1: its closing quote, absent while the string runs on past the buffer), or
# one structural byte.
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(")?|[\[\]{},]', re.DOTALL)
_WS: Final = b" \t\r\n"


@dataclass(frozen=True, slots=True)
class Element:
    """One element of the array (1-based ``index``): its bytes, or why there are none."""

    index: int
    data: bytes = b""
    error: str | None = None
    value: Any = None  # the decoded element (it was decoded to check it): not decoded twice


class _Buffer:
    """The bytes read so far that are still needed, and the stream the rest comes from."""

    def __init__(self, chunks: Iterator[bytes], data: bytes) -> None:
        self.chunks = chunks
        self.data = data
        self.eof = False

    def more(self, keep_from: int) -> int:
        """Drop the bytes before ``keep_from`` and read one more chunk; returns how far the
        positions moved back (0 when nothing was dropped); sets ``eof`` at the end."""
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return 0
        self.data = self.data[keep_from:] + chunk
        return keep_from


def iter_array(chunks: Iterator[bytes], head: bytes, max_bytes: int) -> Iterator[Element]:
    """The elements of the array that ``head`` (then ``chunks``) holds; ``head`` starts at its
    ``[`` (leading whitespace allowed). Read errors of ``chunks`` propagate."""
    buf = _Buffer(chunks, head)
    pos = buf.data.index(b"[") + 1
    start, depth, index = pos, 1, 0
    skipping = False  # the element passed the cap: its bytes are dropped as they are scanned
    while True:
        match = _TOKEN.search(buf.data, pos)
        string_open = match is not None and match.group()[:1] == b'"' and match.group(1) is None
        if match is None or string_open:
            if buf.eof:
                yield from _unclosed(buf.data[start:], index, max_bytes, skipping)
                return
            moved = buf.more(pos if skipping else start)
            pos, start = pos - moved, start - moved
            skipping = skipping or pos - start > max_bytes
            continue
        token = match.group()[:1]
        pos = match.end()
        if token in b"[{":
            depth += 1
        elif token in b"]}":
            depth -= 1
        if token == b'"' or depth > 1 or (depth == 0 and not _at_end(buf, pos)):
            depth = max(depth, 1)  # a stray closing bracket: the element is damaged
            continue
        if token != b"," and depth == 1:
            continue
        # A comma at the array's depth, or its closing bracket: one element ends here.
        end = match.start()
        if skipping or end - start > max_bytes:
            index += 1
            yield Element(index, error=f"record larger than the {max_bytes}-byte cap, skipped")
        else:
            data = buf.data[start:end].strip(_WS)
            value, problem = _decode(data) if data or token == b"," else (None, None)
            if problem is None and data:
                index += 1
                yield Element(index, data, value=value)
            elif problem is not None:
                # The count of brackets and quotes after a damaged element cannot be trusted:
                # go on from the next whole measurement after its start, scanned afresh.
                index += 1
                yield Element(index, error=problem)
                resume, moved = _resync(buf, start, max_bytes)
                if resume is not None:
                    pos, start, depth, skipping = resume, resume, 1, False
                    continue
                pos -= moved
        if depth == 0:
            return
        start, skipping = pos, False


def _decode(data: bytes) -> tuple[Any, str | None]:
    """(the value, None), or (None, why ``data`` is no JSON value)."""
    if not data:
        return None, "empty element"
    try:
        return orjson.loads(data), None
    except orjson.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc}"


def _resync(buf: _Buffer, start: int, max_bytes: int) -> tuple[int | None, int]:
    """(where the next whole measurement after ``start`` begins in the buffer, or None; how
    far the buffer's positions moved back while reading ahead for it)."""
    moved_total = 0
    while True:
        found = _next_whole_measurement(buf.data[start:], 1, max_bytes, final=buf.eof)
        if found is not None:
            return start + found[0], moved_total
        if buf.eof or len(buf.data) - start > 2 * max_bytes:
            return None, moved_total
        moved = buf.more(start)
        start -= moved
        moved_total += moved


def _at_end(buf: _Buffer, pos: int) -> bool:
    """Whether only whitespace follows ``pos`` to the end of the stream (reads what it must)."""
    while not buf.data[pos:].strip(_WS):
        buf.more(0)  # keeps every byte: the element before may still be needed
        if buf.eof:
            return True
    return False


def _unclosed(data: bytes, index: int, max_bytes: int, skipping: bool) -> Iterator[Element]:
    """The end of a stream inside the array: what can be recovered of the last element(s),
    then the error."""
    data = data.strip(_WS)
    if data and not skipping and len(data) <= max_bytes:
        for element in _split_damaged(data, index, max_bytes):
            index = element.index
            if element.error is None:
                yield element
    yield Element(index + 1, error="the array is not closed (a truncated or damaged file?)")


def salvage(data: bytes, max_bytes: int) -> list[Element]:
    """The whole measurements inside bytes that are no JSON value as they stand (an array
    that lost its opening bracket, two records run together), each bad stretch between them
    as an error; [] when there are none."""
    body = data.strip(_WS).removeprefix(b"[").strip(_WS)
    found = list(_split_damaged(body, 0, max_bytes))
    return found if any(e.error is None for e in found) else []


def _split_damaged(data: bytes, index: int, max_bytes: int) -> Iterator[Element]:
    """``data`` as one element; if it does not decode, the bad part, then each measurement
    recovered after it (each starts at a ``{`` and decodes alone)."""
    if not data:
        yield Element(index + 1, error="empty element")
        return
    first = 1  # the first element's start is where the damage is: look past it
    while data:
        index += 1
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            found = _next_whole_measurement(data, first, max_bytes)
            if found is None or found[0] > 0:
                yield Element(index, error=f"not valid JSON: {exc}")
                if found is None:
                    return
                index += 1
            at, end = found
            yield Element(index, data[at:end])
            data = data[end:].lstrip(_WS).removeprefix(b",").lstrip(_WS)
            first = 0
            continue
        yield Element(index, data)
        return


def _next_whole_measurement(
    data: bytes, first: int, max_bytes: int, final: bool = True
) -> tuple[int, int] | None:
    """Where, from ``data[first]`` on, a measurement starts and ends that is followed by a
    comma, a closing bracket or (``final``: nothing more will come) the end of ``data``: the
    resumption point after a damaged element."""
    at = data.find(b"{", first)
    while at >= 0:
        # Only where an element can start: after a comma or the list's bracket (a nested
        # object follows a colon or sits inside a nested list).
        boundary = at == 0 or data[:at].rstrip(_WS)[-1:] in (b",", b"[")
        end = _value_end(data, at) if boundary else None
        if end is not None and end - at <= max_bytes:
            after = data[end:].lstrip(_WS)
            if (final and not after) or (after and after[:1] in b",]"):
                try:
                    value = orjson.loads(data[at:end])
                except orjson.JSONDecodeError:
                    value = None
                if isinstance(value, dict) and "measurement_start_time" in value:
                    return at, end
        at = data.find(b"{", at + 1)
    return None


def _value_end(data: bytes, at: int) -> int | None:
    """The end of the object opening at ``data[at]`` (brackets counted, strings skipped)."""
    depth = 0
    for match in _TOKEN.finditer(data, at):
        token = match.group()[:1]
        if token == b'"':
            if match.group(1) is None:
                return None
        elif token in b"[{":
            depth += 1
        elif token in b"]}":
            depth -= 1
            if depth == 0:
                return match.end()
    return None
