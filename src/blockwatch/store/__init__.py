"""The DuckDB store: measurements (raw texts kept byte for byte), verdicts, events.

:class:`Store` opens a file (read-write, or read-only) and owns every SQL statement;
:class:`Filter` is the one way to say which verdicts or events to read; the dashboard's
aggregates are :class:`Reads`. Measurements come in through ``blockwatch.pipeline`` only.
Tables are documented in docs/schema.md.
"""

from blockwatch.store.filters import Filter, normalize_asn
from blockwatch.store.reads import Reads
from blockwatch.store.store import Store

__all__ = ["Filter", "Reads", "Store", "normalize_asn"]
