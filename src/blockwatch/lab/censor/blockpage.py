"""The lab censor's blockpage: the analyzer knows it by the marker and by its address."""

from __future__ import annotations

BLOCKPAGE_IP = "10.66.255.66"
MARKER = "blockwatch-lab-censor"
BODY = (
    "<html><head><title>Access restricted</title></head><body>"
    "<h1>This website is not accessible</h1>"
    "<p>Access to this site has been restricted under the orders of the authority.</p>"
    f"<!-- {MARKER} --></body></html>"
).encode()


def blockpage_response() -> bytes:
    head = (
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n"
        f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + BODY
