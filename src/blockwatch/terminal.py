"""Every value a command prints goes through here: stored and measured text is hostile.

A measurement may carry ``[/x]`` (rich markup: printed as is it crashes the table) or
``\\x1b[2J`` (an escape sequence: printed raw it clears the analyst's terminal). ``clean``
shows control characters as visible escapes; ``markup`` also escapes rich markup, for text put
into a markup string; ``cell`` is a table cell that rich never parses; ``terminal_stream``
guards JSONL and CSV written to a terminal (to a pipe or file they go out byte for byte).
"""

from __future__ import annotations

import io
import re
from typing import IO, Final, cast

from rich.markup import escape
from rich.text import Text

__all__ = ["cell", "clean", "markup", "terminal_stream"]

# C0 and C1 controls and DEL; the Unicode line and paragraph separators; and the bidirectional
# controls, which can make text on screen read differently from what it is (CVE-2021-42574).
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
# The same but for line ends and tabs: what lines of data written to a terminal may hold.
_UNSAFE_IN_LINES: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object) -> str:
    """``str(value)`` with every control character shown as an escape (``\\x1b``)."""
    return _UNSAFE.sub(_visible, "" if value is None else str(value))


def markup(value: object) -> str:
    """A value to put inside a rich markup string: cleaned, and its markup escaped."""
    return escape(clean(value))


def cell(value: object, style: str = "") -> Text:
    """A table cell holding a value as plain text (rich does not parse it for markup)."""
    return Text(clean(value), style=style)


class _TerminalWriter(io.TextIOBase):
    """Writes to a terminal with control characters (but line ends and tabs) escaped."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._out.write(_UNSAFE_IN_LINES.sub(_visible, text))
        return len(text)

    def flush(self) -> None:
        self._out.flush()


def terminal_stream(out: IO[str]) -> IO[str]:
    """``out`` itself, or a guard on it when it is a terminal (machine formats stay exact)."""
    if not out.isatty():
        return out
    return cast(IO[str], _TerminalWriter(out))
