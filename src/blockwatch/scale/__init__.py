"""The world's data: OONI's archive fetched (bucket or API), and ingest scaled out on Dask.

``fetch(FetchQuery, out_dir, store=)`` downloads and ingests through the pipeline;
``ingest_dask(store, paths, ...)`` (module ``blockwatch.scale.dask_engine``, loaded on first
use: Dask takes a second to import) runs read + verdict on a Dask cluster and bulk-loads the
Parquet parts its workers write.
"""

from typing import Any

from blockwatch.scale.fetch import (
    DEFAULT_API_URL,
    DEFAULT_BUCKET_URL,
    FetchProgress,
    FetchReport,
    fetch,
)
from blockwatch.scale.http import RetryPolicy
from blockwatch.scale.query import FetchQuery

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_BUCKET_URL",
    "FetchProgress",
    "FetchQuery",
    "FetchReport",
    "RetryPolicy",
    "fetch",
    "ingest_dask",
]


def __getattr__(name: str) -> Any:
    if name == "ingest_dask":
        # Dask and distributed take about a second to import: only the dask engine needs them.
        from blockwatch.scale.dask_engine import ingest_dask

        return ingest_dask
    raise AttributeError(name)
