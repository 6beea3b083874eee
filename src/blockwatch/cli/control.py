"""`blockwatch control serve`: run the control helper."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from blockwatch.cli.errors import cli_errors
from blockwatch.control.helper import HelperConfig
from blockwatch.control.server import ControlServer
from blockwatch.terminal import clean

__all__ = ["register"]

control_app = typer.Typer(
    help="The control helper (OONI test-helper protocol).", no_args_is_help=True
)


@control_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on (0: any)."),
    allow_private: bool = typer.Option(
        False, "--allow-private", help="Allow loopback/private targets (the lab only)."
    ),
    resolver: str | None = typer.Option(
        None, "--resolver", help="Resolve over UDP with this ip[:port] (default: the system)."
    ),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="Trust this CA bundle only."),
    geoip_db: Path | None = typer.Option(None, "--geoip-db", help="MaxMind ASN .mmdb file."),
    max_concurrent: int = typer.Option(32, "--max-concurrent", min=1, help="Requests at once."),
    max_connections: int = typer.Option(
        512, "--max-connections", min=1, help="Open connections at once, all clients together."
    ),
    max_connections_per_client: int = typer.Option(
        64,
        "--max-connections-per-client",
        min=1,
        help="Open connections at once from one IPv4 address or IPv6 /64.",
    ),
    read_timeout: float = typer.Option(
        10.0, "--read-timeout", min=0.1, help="Seconds to receive a request (head and body)."
    ),
) -> None:
    """Answer control requests: GET is the health check, POST a control request."""
    config = HelperConfig(
        allow_private=allow_private,
        resolver=resolver,
        ca_file=str(ca_file) if ca_file else None,
        geoip_db=str(geoip_db) if geoip_db else None,
        max_concurrent=max_concurrent,
        max_connections=max_connections,
        max_connections_per_client=max_connections_per_client,
        read_timeout=read_timeout,
    )
    with cli_errors():
        server = ControlServer(config, host, port)

        def ready(url: str) -> None:
            typer.echo(f"control helper listening on {clean(url)}", err=True)

        try:
            asyncio.run(server.serve_forever(ready))
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.add_typer(control_app, name="control")
