"""`blockwatch alerts add|list|remove`: webhook subscriptions. While `blockwatch serve` owns
the store, these go through its admin API (the token is in the owner file); otherwise they
write the store directly and the next server start picks them up."""

from __future__ import annotations

from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from blockwatch.alerts import Hooks
from blockwatch.cli.errors import cli_errors
from blockwatch.cli.options import AsnOption, CountryOption, DbOption, DomainOption, db_path
from blockwatch.errors import StoreError
from blockwatch.store import Store
from blockwatch.store.owner import current_owner

__all__ = ["register"]

alerts_app = typer.Typer(help="Webhooks for event changes (the Atom feed needs no setup).")


def _owner_call(db: Any, method: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    owner = current_owner(db)
    if owner is None:
        return None
    headers = {"Authorization": f"Bearer {owner['token']}"}
    try:
        answer = httpx.request(
            method, f"{owner['url']}/api/admin/alerts", json=body, headers=headers, timeout=10
        )
    except httpx.HTTPError as exc:
        raise StoreError(f"the server owning {db} ({owner['url']}) did not answer: {exc}") from exc
    if answer.status_code != 200:
        raise StoreError(f"the server owning {db} refused: {answer.text[:200]}")
    data: dict[str, Any] = answer.json()
    return data


@alerts_app.command("add")
def add(
    url: str = typer.Option(..., "--url", help="Where to POST alerts (JSON, signed)."),
    db: DbOption = None,
    country: CountryOption = None,
    asn: AsnOption = None,
    domain: DomainOption = None,
    kind: str | None = typer.Option(None, "--kind", help="censorship | outage"),
) -> None:
    """Subscribe URL to alerts; prints the secret its signatures are made with."""
    filters = {
        k: v
        for k, v in {"country": country, "asn": asn, "domain": domain, "kind": kind}.items()
        if v
    }
    with cli_errors():
        path = db_path(db)
        made = _owner_call(path, "POST", {"url": url, "filters": filters})
        if made is None:
            with Store(path) as store:
                try:
                    sub = Hooks(store).add(url, filters)
                except ValueError as exc:
                    raise StoreError(str(exc)) from exc
            made = {"id": sub.sub_id, "url": sub.url, "secret": sub.secret}
    typer.echo(f"subscription {made['id']} -> {made['url']}")
    typer.echo(f"secret (verify X-Blockwatch-Signature with it): {made['secret']}")


@alerts_app.command("list")
def list_(db: DbOption = None) -> None:
    """Subscriptions and dead letters (deliveries that failed for good)."""
    with cli_errors():
        path = db_path(db)
        data = _owner_call(path, "GET")
        if data is None:
            with Store(path) as store:
                hooks = Hooks(store)
                subs = [
                    {"id": s.sub_id, "url": s.url, "filters": s.filters}
                    for s in hooks.subscriptions()
                ]
                dead = [{"delivery": k, **v} for k, v in hooks.dead.items()]
            data = {"subscriptions": subs, "dead_letters": dead}
    table = Table("id", "url", "filters")
    for s in data["subscriptions"]:
        filters = " ".join(f"{k}={v}" for k, v in s["filters"].items())
        table.add_row(escape(s["id"]), escape(s["url"]), escape(filters))
    Console().print(table)
    for d in data["dead_letters"]:
        typer.echo(f"dead letter {d['delivery']} to {d.get('url')}: {d.get('error')}")


@alerts_app.command("remove")
def remove(sub_id: str = typer.Argument(..., help="Subscription id."), db: DbOption = None) -> None:
    """Unsubscribe (stop the server first if one owns the store)."""
    with cli_errors(), Store(db_path(db)) as store:
        if not Hooks(store).remove(sub_id):
            raise StoreError(f"no subscription {sub_id}")
    typer.echo(f"removed {sub_id}")


def register(app: typer.Typer) -> None:
    """Add this command group to the main app."""
    app.add_typer(alerts_app, name="alerts")
