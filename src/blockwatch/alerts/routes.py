"""Atom feeds per filter, and the owner's admin routes for webhook subscriptions."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response

from blockwatch.alerts.feed import atom_feed
from blockwatch.alerts.hooks import FILTER_KEYS, Hooks
from blockwatch.errors import FilterError, SubmissionError
from blockwatch.store import Filter, Reads

__all__ = ["alerts_router"]

FEED_SIZE = 100


def _feed_filter(request: Request) -> Filter:
    q = request.query_params
    unknown = set(q) - {"country", "cc", "asn", "domain", "kind"}
    if unknown:
        raise FilterError(sorted(unknown)[0], "unknown feed filter")
    kind = q.get("kind")
    if kind not in (None, "censorship", "outage"):
        raise FilterError("kind", "must be censorship or outage")
    return Filter.parse(
        country=q.get("country") or q.get("cc"), asn=q.get("asn"), domain=q.get("domain")
    ).replace(kind=kind)


def alerts_router(reads: Reads, hooks: Hooks | None, admin_token: str | None) -> APIRouter:
    router = APIRouter(tags=["alerts"])

    @router.get("/feeds/events.atom")
    def events_feed(request: Request) -> Response:
        f = _feed_filter(request)
        events = reads.events(f, with_network_wide=True, top_level=True, limit=FEED_SIZE)
        base = str(request.base_url).rstrip("/")
        words = [v for v in (f.country, f.asn, f.domain, f.kind) if v]
        title = "blockwatch events" + (f": {' '.join(str(w) for w in words)}" if words else "")
        doc = atom_feed(events, base_url=base, self_url=str(request.url), title=title)
        return Response(doc, media_type="application/atom+xml; charset=utf-8")

    def _admin(token: str | None) -> Hooks:
        expected = f"Bearer {admin_token}" if admin_token else None
        if hooks is None or expected is None or not hmac.compare_digest(token or "", expected):
            raise SubmissionError(403, "this route needs the server's admin token")
        return hooks

    @router.post("/api/admin/alerts")
    async def add_hook(request: Request, authorization: str | None = Header(None)) -> JSONResponse:
        h = _admin(authorization)
        body: Any = await request.json()
        filters = {k: str(v) for k, v in (body.get("filters") or {}).items()}
        try:
            sub = h.add(str(body.get("url", "")), filters)
        except ValueError as exc:
            raise FilterError("url", str(exc)) from exc
        return JSONResponse({"id": sub.sub_id, "url": sub.url, "secret": sub.secret})

    @router.get("/api/admin/alerts")
    def list_hooks(authorization: str | None = Header(None)) -> JSONResponse:
        h = _admin(authorization)
        subs = [{"id": s.sub_id, "url": s.url, "filters": s.filters} for s in h.subscriptions()]
        dead = [{"delivery": k, **v} for k, v in h.dead.items()]
        return JSONResponse({"subscriptions": subs, "dead_letters": dead, "keys": FILTER_KEYS})

    return router
