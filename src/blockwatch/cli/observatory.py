"""The server `blockwatch serve` runs, composed here: dashboard + API + collector + feeds +
webhooks over one store that this process owns (the single writer)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from blockwatch.alerts import Alerts, alerts_router
from blockwatch.collector import (
    Collector,
    CollectorEndpoints,
    Limits,
    collector_router,
    install_error_handler,
)
from blockwatch.store import Store
from blockwatch.store.owner import claim, release

__all__ = ["observatory_app"]


def observatory_app(
    db: Path,
    *,
    base_url: str,
    limits: Limits | None = None,
    events_every: float = 2.0,
    webhooks: bool = True,
    lanes: dict[str, int] | None = None,
    services: Path | None = None,
    asn_db: Path | None = None,
) -> FastAPI:
    """The whole server over ``db`` (opened read-write; its owner file names ``base_url``)."""
    # The web framework is heavy: only serving needs it (the CLI imports this lazily).
    from blockwatch.web.app import build_app

    store = Store(db)
    alerts = Alerts(store, base_url)
    collector = Collector(
        store,
        limits=limits,
        events_every=events_every,
        on_events=alerts.on_events,
    )
    token = secrets.token_urlsafe(24)  # the admin API's; the owner file (0600) holds it

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        claim(store.path, base_url, token)
        await collector.start()
        sender = asyncio.create_task(alerts.hooks.run()) if webhooks else None
        try:
            yield
        finally:
            await collector.stop()
            if sender is not None:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
                await alerts.hooks.drain()  # the alerts of the last event update
            release(store.path)
            store.close()

    # Pages and reports are built in worker processes reading through this one (web.workers).
    app = build_app(store, lifespan=lifespan, services=services, asn_db=asn_db, **(lanes or {}))
    install_error_handler(app)
    app.include_router(collector_router(collector))
    # Outermost (added last): a probe's submission skips the dashboard's routing and layers.
    app.add_middleware(CollectorEndpoints, collector=collector)
    app.include_router(alerts_router(app.state.reads, alerts.hooks, token))
    app.state.collector = collector
    app.state.alerts = alerts
    return app
