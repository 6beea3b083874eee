"""read -> analyze -> write: the one way measurements reach the store.

Files, the probe, the lab, the collector (and next the Dask path) all bring measurements in
through :func:`ingest_paths` or :func:`ingest_documents`; :func:`reanalyze` runs stored ones
through the current rules again. Only this package calls the store's batch writer.
"""

from blockwatch.pipeline.ingest import (
    Fingerprints,
    IngestProgress,
    IngestReport,
    ingest_documents,
    ingest_paths,
    resolve_fingerprints,
)
from blockwatch.pipeline.live import detect_country_events, refresh_events, store_country_events
from blockwatch.pipeline.reanalysis import ReanalyzeReport, reanalyze

__all__ = [
    "Fingerprints",
    "IngestProgress",
    "IngestReport",
    "ReanalyzeReport",
    "detect_country_events",
    "ingest_documents",
    "ingest_paths",
    "reanalyze",
    "refresh_events",
    "resolve_fingerprints",
    "store_country_events",
]
