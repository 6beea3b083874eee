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
from blockwatch.ooni.tools import OBFS4_DOMAIN, TOOL_TESTS, tool_domain

__all__ = [
    "OBFS4_DOMAIN",
    "SUFFIXES",
    "TOOL_TESTS",
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
    "tool_domain",
    "uncompressed_size",
]
