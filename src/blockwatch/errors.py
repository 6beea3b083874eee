"""The one exception tree of blockwatch.

    BlockwatchError
    ├── MalformedMeasurement(source, line, reason)   a record we cannot read as a measurement
    ├── InputError(path, reason)                     a file or directory we cannot read at all
    ├── FingerprintError(source, row, reason)        a bad row in a blockpage fingerprint table
    ├── StoreError(reason)                           the DuckDB store refused an operation
    ├── ProbeError(reason)                           the probe could not run (not: a site failed)
    ├── ControlError(reason)                         the control helper could not answer
    ├── ScenarioError(key, reason)                   a lab scenario file is wrong
    ├── LabError(reason)                             the lab could not build or run its network
    ├── FilterError(name, reason)                    a bad filter value (CLI option, HTTP 400)
    ├── FetchError(url, reason)                      OONI's archive or API could not be read
    ├── SubmissionError(status, reason)              a collector request refused (HTTP 4xx/503)
    ├── web.views.NotFound                           an unknown id or page (HTTP 404)
    ├── web.report.ReportError                       an evidence report cannot be written
    └── signing.SigningError                         a signing key cannot be made or read

Every subclass carries the data needed to name the culprit; code always raises
``... from exc`` so the original cause stays visible.
"""

from __future__ import annotations


class BlockwatchError(Exception):
    """Base of every error blockwatch raises on purpose."""


class MalformedMeasurement(BlockwatchError):
    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")


class InputError(BlockwatchError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class FingerprintError(BlockwatchError):
    def __init__(self, source: str, row: int, reason: str) -> None:
        self.source = source
        self.row = row
        self.reason = reason
        super().__init__(f"{source}: row {row}: {reason}")


class StoreError(BlockwatchError):
    pass


class ProbeError(BlockwatchError):
    pass


class ControlError(BlockwatchError):
    pass


class ScenarioError(BlockwatchError):
    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


class LabError(BlockwatchError):
    pass


class FetchError(BlockwatchError):
    """A download from OONI's bucket or API failed for good (after its retries)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class FilterError(BlockwatchError):
    """A filter value we cannot use (a bad date, since after until, an unknown bucket)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"filter {name}: {reason}")


class SubmissionError(BlockwatchError):
    """A collector request refused: ``status`` is the HTTP status it gets (4xx, or 503)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)
