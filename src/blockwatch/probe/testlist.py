"""Reading URL lists: Citizen Lab test-list CSV (url, category_code, ...) or one URL a line."""

from __future__ import annotations

import csv
from pathlib import Path

from blockwatch.errors import InputError


def read_url_list(path: Path) -> list[str]:
    """URLs from a Citizen Lab CSV (header with a ``url`` column) or a plain list."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read URL list: {exc}") from exc
    lines = text.splitlines()
    first = lines[0].lower() if lines else ""
    urls: list[str] = []
    if "url" in [c.strip() for c in first.split(",")]:
        for row in csv.DictReader(lines):
            url = (row.get("url") or row.get("URL") or "").strip()
            if url:
                urls.append(url)
    else:
        urls = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    bad = [u for u in urls if not u.lower().startswith(("http://", "https://"))]
    if bad:
        raise InputError(str(path), f"not an http(s) URL: {bad[0]!r}")
    return list(dict.fromkeys(urls))
