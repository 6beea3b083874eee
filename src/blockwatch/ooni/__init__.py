"""OONI's measurement data format: reading measurement files, and the base keys of one."""

from blockwatch.ooni.measurement import (
    Measurement,
    domain_of,
    measurement_id,
    parse_measurement,
    parse_time,
    report_id,
)
from blockwatch.ooni.reader import (
    SUFFIXES,
    RawDocument,
    decode_document,
    expand_paths,
    iter_documents,
    iter_file,
    iter_lines,
    uncompressed_size,
)

__all__ = [
    "SUFFIXES",
    "Measurement",
    "RawDocument",
    "decode_document",
    "domain_of",
    "expand_paths",
    "iter_documents",
    "iter_file",
    "iter_lines",
    "measurement_id",
    "parse_measurement",
    "parse_time",
    "report_id",
    "uncompressed_size",
]
