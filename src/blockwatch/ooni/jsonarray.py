"""Streaming a JSON array of measurements element by element, whatever the file's size.

Each element is found by orjson itself: decoding the bytes from the element's start on stops
with "unexpected content after document" right where the element ends (the position comes in
characters; it is turned into bytes), and the element's bytes are then decoded alone and kept
as its raw text. So a list costs about two decodes of each element, in C, and memory holds one
element (up to the cap) plus one chunk. An element longer than the cap is reported and skipped
without being held.

A damaged element (a stray quote or bracket) is reported, and the reader goes on from the next
``{`` after a comma or bracket that opens a whole measurement (it decodes alone, holds
``measurement_start_time``, and a comma or the closing bracket follows it): the untouched
measurements after the damage are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

# A string (group 1: its closing quote, absent while the string runs on past the buffer), or
# one structural byte: the bracket count used on the slow paths (an element over the cap,
# finding where a candidate measurement ends while resynchronising).
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(")?|[\[\]{},]', re.DOTALL)
_NOT_WS: Final = re.compile(rb"[^ \t\r\n]")
_WS: Final = b" \t\r\n"
# orjson's words for "a whole value, then more" and "the value runs past the end" (older
# releases said the latter two).
_TRAILING: Final = ("unexpected content after document", "trailing characters")
_TRUNCATED: Final = ("unexpected end of data", "EOF while parsing")
_LOOKAHEAD: Final = 4  # caps of bytes read ahead for the next whole measurement after damage
_MIN_WINDOW: Final = 16 * 1024
_NOT_CLOSED: Final = "the array is not closed (a truncated or damaged file?)"


@dataclass(frozen=True, slots=True)
class Element:
    """One element of the array (1-based ``index``): its bytes, or why there are none."""

    index: int
    data: bytes = b""
    error: str | None = None
    value: Any = None  # the decoded element (it was decoded to check it): not decoded twice


class _Buffer:
    """The bytes read so far from ``base`` on, and the stream the rest comes from. Positions
    are offsets in the stream, so dropping bytes that are no longer needed moves nothing."""

    def __init__(self, chunks: Iterator[bytes], data: bytes) -> None:
        self.chunks = chunks
        self.data = data
        self.base = 0
        self.eof = False

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def more(self) -> bool:
        """Read one more chunk; False at the end of the stream."""
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        self.data += chunk
        return True

    def drop_before(self, pos: int) -> None:
        cut = pos - self.base
        if cut > 0 and cut >= len(self.data) // 2:  # copies only when that halves the buffer
            self.data = self.data[cut:]
            self.base = pos

    def get(self, start: int, stop: int) -> bytes:
        return self.data[start - self.base : stop - self.base]

    def view(self, start: int, stop: int | None = None) -> memoryview:
        end = None if stop is None else stop - self.base
        return memoryview(self.data)[start - self.base : end]

    def next_byte(self, pos: int) -> tuple[int, bytes]:
        """The first byte at or after ``pos`` that is not whitespace, and where: b"" at the
        end of the stream."""
        while True:
            found = _NOT_WS.search(self.data, max(pos - self.base, 0))
            if found is not None:
                return self.base + found.start(), found.group()
            if not self.more():
                return self.end, b""


def iter_array(chunks: Iterator[bytes], head: bytes, max_bytes: int) -> Iterator[Element]:
    """The elements of the array that ``head`` (then ``chunks``) holds; ``head`` starts at its
    ``[`` (leading whitespace allowed). Read errors of ``chunks`` propagate."""
    buf = _Buffer(chunks, head)
    pos, index, guess = head.index(b"[") + 1, 0, _MIN_WINDOW
    while True:
        buf.drop_before(pos)
        pos, byte = buf.next_byte(pos)
        if not byte:
            yield Element(index + 1, error=_NOT_CLOSED)
            return
        if byte == b"]" and _at_end(buf, pos + 1):
            return
        index += 1
        found = _value_at(buf, pos, max_bytes, guess) if byte != b"]" else "a stray bracket"
        if isinstance(found, tuple):
            end, value = found
            guess = 2 * (end - pos)
            # (orjson's end is the next byte that is not whitespace: the spaces are not kept)
            yield Element(index, buf.get(pos, end).rstrip(_WS), value=value)
            pos, byte = buf.next_byte(end)
            if byte == b",":
                pos += 1
                continue
            if byte == b"]" and _at_end(buf, pos + 1):
                return
            index += 1
            yield Element(index, error=_NOT_CLOSED if not byte else f"{byte!r} after a record")
            if not byte:
                return
        else:
            yield Element(index, error=found)
        # Damage: what follows is read afresh from the next whole measurement.
        resume = _resync(buf, pos, max_bytes)
        if resume is None:
            return
        pos = resume


def _value_at(buf: _Buffer, start: int, max_bytes: int, guess: int) -> tuple[int, Any] | str:
    """(end, value) of the JSON value starting at ``start``, or why there is none. orjson
    copies its input first, so it is handed a window of about ``guess`` bytes, grown while
    the value runs past it, not the whole buffer (that copy made a list 15x slower)."""
    window = max(guess, _MIN_WINDOW)
    while True:
        stop = min(start + window, buf.end)
        try:
            value = orjson.loads(buf.view(start, stop))
        except orjson.JSONDecodeError as exc:
            if exc.msg.startswith(_TRAILING):
                end = start + _byte_offset(buf, start, exc.pos)
                return end, orjson.loads(buf.view(start, end))
            if not exc.msg.startswith(_TRUNCATED) or (buf.eof and stop == buf.end):
                # The error may lie past the value (orjson checks the whole window's UTF-8
                # first): decode exactly the value, its end found by counting brackets.
                return _exact_value_at(buf, start, max_bytes, f"not valid JSON: {exc}")
            if stop - start > max_bytes:
                return f"record larger than the {max_bytes}-byte cap, skipped"
            window *= 4
            if start + window > buf.end:
                buf.more()
            continue
        if stop < buf.end:  # a whole value that ends with the window: look one byte further
            window = stop - start + 1
        elif not buf.more():  # the value ends the stream (a number may go on in a next chunk)
            return buf.end, value


def _exact_value_at(
    buf: _Buffer, start: int, max_bytes: int, problem: str
) -> tuple[int, Any] | str:
    while (found := _value_end(buf.data, start - buf.base)) is None:
        if buf.end - start > max_bytes or not buf.more():
            return problem
    end = buf.base + found
    try:
        return end, orjson.loads(buf.view(start, end))
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON: {exc}"


def _byte_offset(buf: _Buffer, start: int, chars: int) -> int:
    """Where, in bytes from ``start``, the ``chars``-th character lies (orjson counts
    characters; the bytes up to there are valid UTF-8, since orjson read them)."""
    prefix = buf.get(start, start + chars)
    if prefix.isascii():
        return chars
    text = buf.get(start, start + 4 * chars + 4).decode("utf-8", "ignore")
    return len(text[:chars].encode("utf-8"))


def _resync(buf: _Buffer, start: int, max_bytes: int) -> int | None:
    """Where the next whole measurement after ``start`` begins (reading ahead a few caps at
    most), else, past the value at ``start`` counted by brackets, whatever comes next; None at
    the end of the stream."""
    while True:
        found = _next_whole_measurement(buf.get(start, buf.end), 1, max_bytes, final=buf.eof)
        if found is not None:
            return start + found[0]
        if buf.eof or buf.end - start > _LOOKAHEAD * max_bytes:
            break
        buf.more()
    end = _skip_value(buf, start)
    if end is None:
        return None
    pos, byte = buf.next_byte(end)
    return pos + 1 if byte == b"," else None


def _skip_value(buf: _Buffer, start: int) -> int | None:
    """The end of the value at ``start`` by counting brackets, dropping bytes as it goes (an
    element over the cap is never held whole); None at the end of the stream."""
    depth, pos = 0, start
    while True:
        buf.drop_before(pos)
        match = _TOKEN.search(buf.data, pos - buf.base)
        if match is None or (match.group()[:1] == b'"' and match.group(1) is None):
            if match is not None:
                pos = buf.base + match.start()
            if not buf.more():
                return None
            continue
        token = match.group()[:1]
        if token in b"[{":
            depth += 1
        elif token in b"]}":
            depth -= 1
        if depth <= 0 and (token in b"]}" or token == b","):
            return buf.base + (match.end() if token in b"]}" and depth == 0 else match.start())
        pos = buf.base + match.end()


def _at_end(buf: _Buffer, pos: int) -> bool:
    """Whether only whitespace follows ``pos`` to the end of the stream."""
    return not buf.next_byte(pos)[1]


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
