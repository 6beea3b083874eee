"""The collector: probes upload measurements with OONI's collector protocol (bk-003).

:class:`Collector` checks each request, hands measurements to the one pipeline through a group
commit (acknowledged only after their COMMIT) and keeps the touched countries' events current;
:class:`CollectorEndpoints` (the probes' routes) and :func:`collector_router` (status,
settle) put it on HTTP. ``blockwatch serve`` composes it with the dashboard.
"""

from blockwatch.collector.committer import REFRESH_SHARE, CommitStats, Committer
from blockwatch.collector.limits import Limits
from blockwatch.collector.protocol import OpenReport, measurement_uid
from blockwatch.collector.routes import (
    CollectorEndpoints,
    collector_router,
    install_error_handler,
)
from blockwatch.collector.service import Collector

__all__ = [
    "REFRESH_SHARE",
    "Collector",
    "CollectorEndpoints",
    "CommitStats",
    "Committer",
    "Limits",
    "OpenReport",
    "collector_router",
    "install_error_handler",
    "measurement_uid",
]
