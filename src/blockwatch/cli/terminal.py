"""Every value a command prints goes through here: stored and measured text is hostile.

A measurement may carry ``[/x]`` (rich markup: printed as is it crashes the table) or
``\\x1b[2J`` (an escape sequence: printed raw it clears the analyst's terminal). ``clean``
shows control characters as visible escapes; ``markup`` also escapes rich markup, for text put
into a markup string; ``cell`` is a table cell that rich never parses.
"""

from __future__ import annotations

import re
from typing import Final

from rich.markup import escape
from rich.text import Text

__all__ = ["cell", "clean", "markup"]

# C0 and C1 controls and DEL; the Unicode line and paragraph separators; and the bidirectional
# controls, which can make text on screen read differently from what it is (CVE-2021-42574).
_UNSAFE: Final = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]"
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
