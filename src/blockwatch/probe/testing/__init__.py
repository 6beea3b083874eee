"""Loopback test servers for the probe, the control helper and the lab: a test CA, a DNS
server, HTTP/HTTPS origins, and hostile or censoring variants of them."""
