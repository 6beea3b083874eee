"""Printing an evidence report to PDF with headless chromium.

The page size and the page numbers come from the report's own CSS (``@page``), which
chromium honours when it prints; the document needs nothing external.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from blockwatch.errors import BlockwatchError

__all__ = ["PdfError", "chromium_path", "html_to_pdf"]

PRINT_NICE = 19
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


class PdfError(BlockwatchError):
    """No chromium, or chromium could not print the page."""


def chromium_path() -> str | None:
    for path in CHROMIUM_CANDIDATES:
        if Path(path).is_file():
            return path
    return shutil.which("chromium")


def html_to_pdf(page: str, timeout: float = 90.0) -> bytes:
    """Print the HTML to PDF with headless chromium (the document needs nothing external)."""
    exe = chromium_path()
    if exe is None:
        raise PdfError("PDF output needs chromium (apt-get install chromium); use .html")
    with tempfile.TemporaryDirectory(prefix="blockwatch-pdf-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(page, encoding="utf-8")
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            src.as_uri(),
        ]
        # At the lowest CPU priority: printing takes seconds of CPU, and a dashboard that owns
        # its store prints from a thread of the process serving pages (web/heavy.py).
        nice = shutil.which("nice")
        if nice is not None:
            cmd = [nice, "-n", str(PRINT_NICE), *cmd]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfError(f"chromium could not print the PDF: {exc}") from exc
        if not out.is_file() or out.stat().st_size == 0:
            raise PdfError("chromium produced no PDF")
        return out.read_bytes()
