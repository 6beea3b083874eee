"""The dashboard (FastAPI pages and JSON API, server-side SVG charts, no scripts) and the
evidence report.

``app`` composes the routes (``pages``, ``api``); ``views`` is what each page shows, as plain
data; ``render`` turns data into JSON, HTML and charts; ``report`` writes the evidence document.
Every read goes through ``blockwatch.store.Reads``: no SQL lives here.

The names below load on first use: the report is written without the web framework, which is
heavy and only serving needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blockwatch.web.app import build_app, serve
    from blockwatch.web.report import build, write_report
    from blockwatch.web.report_check import verify

__all__ = ["build", "build_app", "serve", "verify", "write_report"]

_WHERE = {
    "build_app": "app",
    "serve": "app",
    "build": "report",
    "verify": "report_check",
    "write_report": "report",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
