"""Work slots shared fairly between the helper's clients.

A plain semaphore serves waiters first come, first served: a client that queues many slow
measurements makes everyone after it wait for all of them. Here a freed slot goes to the
waiting client that runs the fewest measurements (first come among equals), so a newcomer
gets the very next free slot; one client alone still gets every slot.
"""

from __future__ import annotations

import asyncio
from collections import Counter

__all__ = ["FairSlots"]


class FairSlots:
    """``await slots.acquire(client)`` ... ``slots.release(client)``; at most ``limit`` held."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running: Counter[str] = Counter()
        self._busy = 0
        self._waiters: list[tuple[str, asyncio.Future[None]]] = []

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, client: str) -> None:
        if self._busy < self.limit and not self._waiters:
            self._grant(client)
            return
        entry = (client, asyncio.get_running_loop().create_future())
        self._waiters.append(entry)
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry[1].done() and not entry[1].cancelled():
                self.release(client)  # granted just as it was cancelled: pass the slot on
            elif entry in self._waiters:
                self._waiters.remove(entry)
            raise

    def release(self, client: str) -> None:
        self.running[client] -= 1
        if self.running[client] <= 0:
            del self.running[client]
        self._busy -= 1
        self._wake()

    def _grant(self, client: str) -> None:
        self._busy += 1
        self.running[client] += 1

    def _wake(self) -> None:
        while self._busy < self.limit and self._waiters:
            # min() keeps the first of equals: first come, first served among them.
            index = min(range(len(self._waiters)), key=lambda i: self.running[self._waiters[i][0]])
            client, future = self._waiters.pop(index)
            if future.cancelled():
                continue
            self._grant(client)
            future.set_result(None)
