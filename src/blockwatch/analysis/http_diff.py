"""Comparing the probe's HTTP response with the control's (OONI Web Connectivity rules).

- body proportion min(a, b) / max(a, b) matches above 0.7 (both known, probe not truncated);
- status codes equal;
- headers match when both responses carry the same header names, or share one outside
  the set every server sends;
- titles match when their words of five or more characters are the same (any order);
- a 5xx status at the control says nothing about the probe's page (no status verdict).
No diff when the status matches and any of body, headers or title match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BODY_PROPORTION_THRESHOLD = 0.7
TITLE_WORD_MIN = 5

# Header names so common that sharing them says nothing about the origin (the list OONI's
# Web Connectivity uses). Hop-by-hop names such as Content-Length are not in it: OONI's
# rule counts them, and we keep its behaviour so our diffs and OONI's mean the same.
COMMON_HEADERS = frozenset(
    [
        "date",
        "content-type",
        "server",
        "cache-control",
        "vary",
        "set-cookie",
        "location",
        "expires",
        "x-powered-by",
        "content-encoding",
        "last-modified",
        "accept-ranges",
        "pragma",
        "x-frame-options",
        "etag",
        "x-content-type-options",
        "age",
        "via",
        "p3p",
        "x-xss-protection",
        "content-language",
        "cf-ray",
        "strict-transport-security",
        "link",
        "x-varnish",
    ]
)
_TITLE = re.compile(r"<title[^>]*>([^<]{0,4096})", re.IGNORECASE)


@dataclass(slots=True)
class HttpDiff:
    body_proportion: float | None
    body_length_match: bool | None
    status_code_match: bool | None
    headers_match: bool | None
    title_match: bool | None

    @property
    def differs(self) -> bool:
        """OONI's http-diff: the status differs, or none of body/headers/title match."""
        if self.status_code_match is False:
            return True
        if self.status_code_match is None:
            return False
        return not (self.body_length_match or self.headers_match or self.title_match)


def title_of(body: str) -> str:
    m = _TITLE.search(body[:65536])
    return m.group(1).strip() if m else ""


def body_proportion(probe_len: int, control_len: int) -> float | None:
    if probe_len <= 0 or control_len <= 0:
        return 0.0 if (probe_len > 0) != (control_len > 0) else None
    return min(probe_len, control_len) / max(probe_len, control_len)


def headers_match(probe: Mapping[str, Any], control: Mapping[str, Any]) -> bool | None:
    if not control:
        return None
    ours = {k.lower() for k in probe}
    theirs = {k.lower() for k in control}
    if ours == theirs:
        return True  # the very same header names: the same kind of server
    return bool((ours & theirs) - COMMON_HEADERS)


def _title_words(title: str) -> set[str]:
    return {w.lower() for w in title.split(" ") if len(w) >= TITLE_WORD_MIN}


def title_match(probe_title: str, control_title: str | None) -> bool | None:
    """Titles match when their long words (5+ characters) are the same, in any order."""
    if not probe_title or control_title is None:
        return None
    return _title_words(probe_title) == _title_words(control_title)


def compare(
    *,
    probe_status: int | None,
    probe_headers: Mapping[str, Any],
    probe_body: str,
    probe_body_length: int,
    probe_truncated: bool,
    control_status: int | None,
    control_headers: Mapping[str, Any],
    control_body_length: int | None,
    control_title: str | None,
    every_match: bool = False,
) -> HttpDiff:
    """All four comparisons; None where a side lacks the data. The title is compared only
    when nothing cheaper decided, unless ``every_match`` (OONI's summary keys want it)."""
    proportion = None
    length_match = None
    if control_body_length is not None and not probe_truncated:
        proportion = body_proportion(probe_body_length, control_body_length)
        length_match = None if proportion is None else proportion > BODY_PROPORTION_THRESHOLD
    status_match = None
    if probe_status is not None and control_status is not None:
        status_match = probe_status == control_status
        if not status_match and control_status // 100 == 5:
            status_match = None  # a failing origin says nothing about the probe's page
    headers = headers_match(probe_headers, control_headers)
    # The title is only needed when nothing cheaper decided (searching a page costs).
    title = None
    if every_match or (status_match and not length_match and not headers and not probe_truncated):
        title = title_match(title_of(probe_body), control_title)
    return HttpDiff(
        body_proportion=proportion,
        body_length_match=length_match,
        status_code_match=status_match,
        headers_match=headers,
        title_match=title,
    )
