"""Webhooks: subscriptions, signed JSON deliveries, retries with backoff, dead letters.

Every delivery is first written to an outbox in the store, then sent; it leaves the outbox
when the receiver answers 2xx, or after ``MAX_ATTEMPTS`` into the dead letters. A restart
resends what the outbox holds, and ``alerts.sent`` (the change keys already queued) keeps a
change from being queued twice. Receivers check ``X-Blockwatch-Signature: sha256=<hex>``, an
HMAC-SHA256 of the body under the subscription's secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import httpx
import orjson

from blockwatch.store import Store
from blockwatch.store.state import State

__all__ = ["MAX_ATTEMPTS", "Hooks", "Subscription", "sign"]

MAX_ATTEMPTS: Final = 6
BACKOFF: Final = (1.0, 2.0, 5.0, 15.0, 60.0)  # seconds before attempts 2, 3, ...
TIMEOUT: Final = 5.0
FILTER_KEYS: Final = ("country", "asn", "domain", "kind")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Subscription:
    sub_id: str
    url: str
    secret: str
    filters: dict[str, str]

    def wants(self, event: dict[str, Any]) -> bool:
        f = self.filters
        asn = str(event.get("probe_asn") or "")
        networks = {str(n) for n in event.get("networks") or ()} | ({asn} if asn else set())
        return (
            ("country" not in f or f["country"].upper() == event.get("probe_cc"))
            and ("asn" not in f or f["asn"].upper() in networks)
            and ("domain" not in f or f["domain"].lower() == (event.get("domain") or ""))
            and ("kind" not in f or f["kind"] == event.get("kind"))
        )


class Hooks:
    """Subscriptions and deliveries kept in the store (namespaces ``alerts.*``)."""

    def __init__(self, store: Store) -> None:
        self.subs = State(store, "alerts.hooks")
        self.sent = State(store, "alerts.sent")
        self.outbox = State(store, "alerts.outbox")
        self.dead = State(store, "alerts.dead")
        self.wake = asyncio.Event()

    # -- subscriptions ---------------------------------------------------------------------

    def add(self, url: str, filters: dict[str, str]) -> Subscription:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {url!r}")
        bad = set(filters) - set(FILTER_KEYS)
        if bad:
            raise ValueError(f"unknown filters {sorted(bad)}; known: {', '.join(FILTER_KEYS)}")
        sub = Subscription(secrets.token_hex(8), url, secrets.token_hex(32), dict(filters))
        self.subs.put(sub.sub_id, {"url": url, "secret": sub.secret, "filters": sub.filters})
        return sub

    def subscriptions(self) -> list[Subscription]:
        return [
            Subscription(k, v["url"], v["secret"], dict(v.get("filters") or {}))
            for k, v in self.subs.items()
        ]

    def remove(self, sub_id: str) -> bool:
        return self.subs.delete(sub_id)

    # -- deliveries ------------------------------------------------------------------------

    def queue(self, change_key: str, payload: dict[str, Any]) -> int:
        """Queue ``payload`` for every subscription that wants its event, once per change.
        The outbox is written before the change is marked sent: a crash in between queues
        the same deliveries again (same ids), never none."""
        if self.sent.get(change_key) is not None:
            return 0
        queued = 0
        for sub in self.subscriptions():
            if sub.wants(payload["event"]):
                delivery = hashlib.sha256(f"{sub.sub_id}|{change_key}".encode()).hexdigest()[:24]
                body = {**payload, "delivery": delivery}
                entry = {"sub": sub.sub_id, "body": body, "attempts": 0, "due": 0.0}
                self.outbox.put(delivery, entry)
                queued += 1
        self.sent.put(change_key, {"at": time.time(), "deliveries": queued})
        if queued:
            self.wake.set()
        return queued

    async def run(self, poll: float = 1.0) -> None:
        """Send due deliveries until cancelled."""
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            while True:
                await self.send_due(client)
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), poll)

    async def drain(self) -> None:
        """One last pass over the outbox (a server stopping sends what is due)."""
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            await self.send_due(client)

    async def send_due(self, client: httpx.AsyncClient) -> None:
        subs = {s.sub_id: s for s in self.subscriptions()}
        now = time.time()
        for delivery, entry in self.outbox.items():
            if entry["due"] > now:
                continue
            sub = subs.get(entry["sub"])
            if sub is None:  # unsubscribed meanwhile
                self.outbox.delete(delivery)
                continue
            await self._attempt(client, sub, delivery, entry)

    async def _attempt(
        self, client: httpx.AsyncClient, sub: Subscription, delivery: str, entry: dict[str, Any]
    ) -> None:
        body = orjson.dumps(entry["body"])
        headers = {
            "Content-Type": "application/json",
            "X-Blockwatch-Signature": sign(sub.secret, body),
            "X-Blockwatch-Delivery": delivery,
        }
        try:
            answer = await client.post(sub.url, content=body, headers=headers)
            error = None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            self.outbox.delete(delivery)
            return
        attempts = entry["attempts"] + 1
        if attempts >= MAX_ATTEMPTS:
            self.dead.put(delivery, {**entry, "attempts": attempts, "error": error, "url": sub.url})
            self.outbox.delete(delivery)
            return
        wait = BACKOFF[min(attempts - 1, len(BACKOFF) - 1)]
        self.outbox.put(
            delivery, {**entry, "attempts": attempts, "due": time.time() + wait, "error": error}
        )
