"""The network steps the probe and the control helper share.

One step, one module, each returning a flat record with OONI's fields (``dns``, ``tcp``,
``tls``, ``http``); ``failures`` turns every exception into OONI's failure words at the edge;
``endpoint`` composes TCP and TLS into one connection with a transaction id; ``flows`` fetches a
URL over such connections, following redirects, under one :class:`FetchPolicy`.
"""

from blockwatch.ipranges import AddressClass, classify
from blockwatch.net.addresses import (
    endpoint,
    is_bogon,
    is_ip_literal,
    is_public,
    parse_host_port,
    split_endpoint,
)
from blockwatch.net.clock import Clock
from blockwatch.net.dns import DNSQuery, addresses_of, dns_failure, lookup_all
from blockwatch.net.endpoint import Connection, Streams, connect_endpoint
from blockwatch.net.failures import failure_string
from blockwatch.net.flows import FetchPolicy, Target, Trace, fetch, open_connection, parse_target
from blockwatch.net.geoip import AsnDatabase
from blockwatch.net.http import HTTPExchange, exchange
from blockwatch.net.tcp import TCPConnect, tcp_connect
from blockwatch.net.timeouts import BODY_CAP, Timeouts
from blockwatch.net.tls import TLSHandshake, tls_handshake

__all__ = [
    "BODY_CAP",
    "AddressClass",
    "AsnDatabase",
    "Clock",
    "Connection",
    "DNSQuery",
    "FetchPolicy",
    "HTTPExchange",
    "Streams",
    "TCPConnect",
    "TLSHandshake",
    "Target",
    "Timeouts",
    "Trace",
    "addresses_of",
    "classify",
    "connect_endpoint",
    "dns_failure",
    "endpoint",
    "exchange",
    "failure_string",
    "fetch",
    "is_bogon",
    "is_ip_literal",
    "is_public",
    "lookup_all",
    "open_connection",
    "parse_host_port",
    "parse_target",
    "split_endpoint",
    "tcp_connect",
    "tls_handshake",
]
