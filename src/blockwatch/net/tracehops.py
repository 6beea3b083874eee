"""Where on the path the tampering appears (pure): the hop analysis of ``blockwatch trace``.

The method is CenTrace's (IMC 2022): the triggering packet is repeated with TTL 1, 2, …;
while the TTL runs out before the censor, routers answer "time exceeded"; from the censor's
hop on, the reply is the tampering (a reset, a blockpage, an injected answer, or silence
where a control packet of the same shape, or the previous hop, still answered). The hop's
address comes from a plain traceroute of the same destination (``path``): a censor that
intercepts the payload never answers it with time-exceeded itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from blockwatch.net.trace import (
    ANSWER,
    CLOSED,
    CONNECTED,
    DATA,
    REACHED,
    RESET,
    SILENCE,
    TIME_EXCEEDED,
    HopReply,
)

IsBlockpage = Callable[[bytes], bool]


@dataclass(frozen=True, slots=True)
class Tampering:
    """The first hop at which ``method``'s packet was tampered with, and how."""

    method: str  # "dns", "tcp", "tls" or "http": the packet that triggered it
    kind: str  # "reset", "blockpage", "closed", "silence" or "injected_answer"
    hop: int  # the TTL at which it first appears
    address: str | None  # the router at that hop (None: it never answers time-exceeded)
    after: str | None  # the last router before it that answered

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "kind": self.kind,
            "hop": self.hop,
            "address": self.address,
            "after": self.after,
        }


def router_at(path: Sequence[HopReply], ttl: int) -> str | None:
    """The router whose time-exceeded answered the traceroute at ``ttl``, if one did."""
    for reply in path:
        if reply.ttl == ttl and reply.kind == TIME_EXCEEDED:
            return reply.address
    return None


def last_router_before(path: Sequence[HopReply], ttl: int) -> str | None:
    routers = [r for r in path if r.ttl < ttl and r.kind == TIME_EXCEEDED]
    return max(routers, key=lambda r: r.ttl).address if routers else None


def first_tampering(
    method: str,
    test: Sequence[HopReply],
    control: Sequence[HopReply] | None,
    path: Sequence[HopReply],
    is_blockpage: IsBlockpage = lambda _: False,
) -> Tampering | None:
    """The first TTL at which ``test`` shows tampering, given the ``control`` trace (the
    same packet shape with an innocuous name) or, for a SYN, the traceroute ``path``."""
    by_ttl = {r.ttl: r for r in (control if control is not None else path)}
    for reply in test:
        kind = _tampered(reply, by_ttl.get(reply.ttl), control is not None, is_blockpage)
        if kind is not None:
            return _at(method, kind, reply.ttl, path)
    if control is None:  # a SYN: silence from some hop on, where routers answered before
        hop = _silent_tail(test)
        if hop is not None:
            return _at(method, "silence", hop, path)
    return None


def _at(method: str, kind: str, ttl: int, path: Sequence[HopReply]) -> Tampering:
    return Tampering(method, kind, ttl, router_at(path, ttl), last_router_before(path, ttl))


def _tampered(
    reply: HopReply, other: HopReply | None, is_control: bool, is_blockpage: IsBlockpage
) -> str | None:
    if reply.kind == RESET:
        # The destination's own refusal (the traceroute reached it at this TTL) or the
        # control's same reset are the server, not a censor.
        if other is not None and other.kind in (RESET, REACHED, CLOSED):
            return None
        return "reset"
    if reply.kind == DATA and is_blockpage(reply.data):
        return "blockpage"
    if not is_control or other is None:
        return None
    if reply.kind == CLOSED and other.kind == DATA:
        return "closed"
    if reply.kind == SILENCE and other.kind in (DATA, CLOSED, ANSWER, TIME_EXCEEDED):
        return "silence"
    if reply.kind == ANSWER and other.kind in (TIME_EXCEEDED, SILENCE):
        # An answer before the server's distance: something in the path made it up.
        return "injected_answer"
    return None


def _silent_tail(test: Sequence[HopReply]) -> int | None:
    """The first TTL of a silence that lasts to the end, after a router answered."""
    if not test or any(r.kind == CONNECTED for r in test):
        return None
    first = None
    for reply in reversed(test):
        if reply.kind != SILENCE:
            break
        first = reply.ttl
    answered = any(r.kind == TIME_EXCEEDED and (first is None or r.ttl < first) for r in test)
    return first if first is not None and answered else None


def distance(trace: Sequence[HopReply]) -> int | None:
    """The TTL at which the trace's destination (or whatever answers for it) replied."""
    for reply in trace:
        if reply.kind in (REACHED, CONNECTED, DATA, CLOSED, RESET, ANSWER):
            return reply.ttl
    return None
