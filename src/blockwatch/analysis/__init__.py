"""From measurements to verdicts and events: pure functions over plain data.

``verdict.analyze`` gives one measurement its verdict (the rules read ``observations``, a
blockpage ``fingerprints`` table, DNS consistency, the HTTP diff, throttling); ``events`` finds
blocking episodes and outages in many verdicts; ``cusum`` is OONI's detector, the baseline.
``records`` holds the Verdict and Event dataclasses, which are the store's schema too.
"""

from blockwatch.analysis.cusum import CusumParams, cusum_events
from blockwatch.analysis.events import detect_events
from blockwatch.analysis.fingerprints import Fingerprint, FingerprintTable
from blockwatch.analysis.records import (
    EVENT_JSONL_FIELDS,
    METHODS,
    OUTCOMES,
    VERDICT_JSONL_FIELDS,
    Event,
    NetworkSpan,
    Verdict,
)
from blockwatch.analysis.verdict import analyze, analyze_document

__all__ = [
    "EVENT_JSONL_FIELDS",
    "METHODS",
    "OUTCOMES",
    "VERDICT_JSONL_FIELDS",
    "CusumParams",
    "Event",
    "Fingerprint",
    "FingerprintTable",
    "NetworkSpan",
    "Verdict",
    "analyze",
    "analyze_document",
    "cusum_events",
    "detect_events",
]
