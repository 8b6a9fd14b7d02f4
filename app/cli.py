"""`flask --app app ...` commands: catalog import, users, invites, database, releases."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from . import db
from .services import catalog_import, invites, mapping_import, releases, sessions, users


def _connection():
    return db.connect(current_app.config["DATABASE"])


catalog_cli = AppGroup("catalog", help="Load Key Events, pathways, KE relationships and curated links.")


@catalog_cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice((*catalog_import.KINDS, mapping_import.KIND)),
              help="What the files hold (default: detect).")
@click.option("--show-rejected", default=20, show_default=True, help="How many rejected rows to list per file.")
def import_command(files: tuple[Path, ...], kind: str | None, show_rejected: int) -> None:
    """Upsert FILES (.jsonl, .csv, .tsv, optionally .gz) into the catalogue.

    A file of curated links (each row with a ke_id and a wp_id, e.g. data/seed/mappings.jsonl)
    becomes approved mappings with their provenance; give it after the catalogue files."""
    from tqdm import tqdm

    conn = _connection()
    failed = False
    try:
        for path in files:
            def progress(rows, _name=path.name):
                return tqdm(rows, desc=_name, unit=" rows", file=sys.stderr, disable=None)
            try:
                if kind == mapping_import.KIND or (kind is None and path.is_file()
                                                   and mapping_import.looks_like_links(path)):
                    report = mapping_import.import_links(conn, path)
                else:
                    report = catalog_import.import_file(conn, path, kind=kind, progress=progress)
            except catalog_import.ImportFileError as exc:
                click.echo(f"error: {exc}", err=True)
                failed = True
                continue
            click.echo(report.summary())
            for lineno, reason in report.rejected[:show_rejected]:
                click.echo(f"  line {lineno}: {reason}", err=True)
            if len(report.rejected) > show_rejected:
                click.echo(f"  ... and {len(report.rejected) - show_rejected} more rejected rows", err=True)
    finally:
        conn.close()
    if failed:
        sys.exit(1)


users_cli = AppGroup("users", help="Manage local accounts.")


@users_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(users.ROLES), default="curator", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--github", "github_login", help="Allow GitHub sign-in as this GitHub login.")
def add_user(name: str, role: str, password_stdin: bool, github_login: str | None) -> None:
    """Create user NAME; without --password-stdin a random password is printed once."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    conn = _connection()
    try:
        user, generated = users.create_user(conn, name, role, password, github_login)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    click.echo(f"created {user.role} {user.username!r}")
    if generated:
        click.echo(f"password: {generated}  (shown once; store it now)")


def _run(change, *args, refusals: tuple[type[Exception], ...] = (), **kwargs):
    """Run a service call on a fresh connection; one of its `refusals` becomes a clear CLI error."""
    conn = _connection()
    try:
        return change(conn, *args, **kwargs)
    except refusals as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()


def _run_user_change(change, *args):
    """Run a users.* admin change on a fresh connection; a UserError becomes a clear CLI error."""
    return _run(change, *args, refusals=(users.UserError,))


def _print_table(rows: list[tuple[str, ...]]) -> None:
    """Rows (the first is the heading) in columns as wide as their widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _ended(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''} ended"


@users_cli.command("list")
def list_users() -> None:
    """Show every account: role, enabled, live sessions, last sign-in."""
    accounts = _run_user_change(users.list_accounts, sessions.Lifetimes.from_settings(current_app.config))
    rows = [("username", "role", "enabled", "sessions", "last sign-in")] + [
        (a.username, a.role, "yes" if a.enabled else "no", str(a.active_sessions), a.last_sign_in_at or "never")
        for a in accounts]
    _print_table(rows)


@users_cli.command("disable")
@click.argument("name")
def disable_user(name: str) -> None:
    """Stop NAME from signing in and end their sessions now."""
    ended = _run_user_change(users.set_enabled, name, False)
    click.echo(f"disabled {name!r}; {_ended(ended)}")


@users_cli.command("enable")
@click.argument("name")
def enable_user(name: str) -> None:
    """Let a disabled NAME sign in again."""
    _run_user_change(users.set_enabled, name, True)
    click.echo(f"enabled {name!r}")


@users_cli.command("reset-password")
@click.argument("name")
def reset_password(name: str) -> None:
    """Give NAME a new random password (printed once) and end their sessions."""
    password, ended = _run_user_change(users.reset_password, name)
    click.echo(f"new password for {name!r}; {_ended(ended)}")
    click.echo(f"password: {password}  (shown once; store it now)")


@users_cli.command("set-role")
@click.argument("name")
@click.argument("role")
def set_role(name: str, role: str) -> None:
    """Make NAME a ROLE (curator or admin) and end their sessions, so the change applies at once."""
    old, ended = _run_user_change(users.set_role, name, role)
    click.echo(f"{name!r}: {old} -> {role}; {_ended(ended)}")


@users_cli.command("set-email")
@click.argument("name")
@click.argument("address")
def set_email(name: str, address: str) -> None:
    """Mail NAME's review outcomes to ADDRESS ("" for none); never shown on any page."""
    _run_user_change(users.set_email, name, address)
    click.echo(f"{name!r}: review outcomes go to {address!r}" if address else f"{name!r}: no e-mail")


db_cli = AppGroup("db", help="Database schema.")


@db_cli.command("upgrade")
def upgrade() -> None:
    """Apply pending schema migrations (start-up does this too)."""
    conn = _connection()
    try:
        applied = db.migrate(conn)
        click.echo(f"schema version {db.schema_version(conn)}" + (f" (applied {applied})" if applied else ""))
    finally:
        conn.close()


invites_cli = AppGroup("invites", help="Invite codes with which people create their own curator accounts.")


@invites_cli.command("create")
@click.option("--label", required=True, help="Who the invite is for, e.g. 'Maastricht workshop'.")
@click.option("--days", default=14, show_default=True, help=f"How long it can be used (1-{invites.MAX_DAYS}).")
@click.option("--max-uses", default=1, show_default=True,
              help=f"How many accounts it may create (1-{invites.MAX_USES}).")
@click.option("--by", "created_by", default="admin", show_default=True, help="Who creates it (for the history).")
def create_invite(label: str, days: int, max_uses: int, created_by: str) -> None:
    """Create an invite; its code and link are printed once."""
    invite, code = _run(invites.create, label, days=days, max_uses=max_uses, created_by=created_by,
                        refusals=(invites.InviteError,))
    click.echo(f"invite {invite.id} ({invite.label!r}): {invite.max_uses} use{'s' if invite.max_uses != 1 else ''}, "
               f"until {invite.expires_at}")
    click.echo(f"code: {code}  (shown once; send it to the people invited)")
    click.echo(f"link: {current_app.config['PUBLIC_URL']}/register?code={code}")


@invites_cli.command("list")
def list_invites() -> None:
    """Show every invite: label, uses, expiry, state (the codes themselves are not stored)."""
    found = _run(invites.list_invites)
    rows = [("id", "label", "uses", "expires (UTC)", "state")] + [
        (str(i.id), i.label, f"{i.uses}/{i.max_uses}", i.expires_at, i.state()) for i in found]
    _print_table(rows)


releases_cli = AppGroup("releases", help="Numbered, immutable releases of the approved mappings.")


@releases_cli.command("create")
@click.option("--note", default="", help="One line saying what this release is for (shown on /releases).")
@click.option("--by", "created_by", default="cli", show_default=True, help="Who makes it (recorded).")
def create_release(note: str, created_by: str) -> None:
    """Make the next release from the approved mappings as they are now (never rewrites one)."""
    conn = _connection()
    root = releases.root_for(current_app.config["DATABASE"])
    try:
        release = releases.create_release(conn, root, created_by=created_by, note=note,
                                          site=current_app.config["PUBLIC_URL"])
    except releases.ReleaseError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        conn.close()
    click.echo(f"release {release.number}: {release.mappings} mappings ({release.added} added, "
               f"{release.changed} changed, {release.removed} removed) in {root / str(release.number)}")
    click.echo(f"to deposit on Zenodo: {release.bundle_name} and .zenodo.json (docs/operations.md)")


@releases_cli.command("list")
def list_releases() -> None:
    """Every release, newest first, and whether its files still match their checksums."""
    conn = _connection()
    root = releases.root_for(current_app.config["DATABASE"])
    try:
        found = releases.list_releases(conn)
    finally:
        conn.close()
    failed = False
    for release in found:
        try:
            problems = releases.verify(root, release)
        except releases.ReleaseError as exc:
            problems = [str(exc)]
        failed = failed or bool(problems)
        state = "; ".join(problems) if problems else "files intact"
        click.echo(f"{release.number}  {release.created_at}  {release.created_by}  {release.mappings} mappings  "
                   f"{state}" + (f"  {release.note}" if release.note else ""))
    if failed:
        sys.exit(1)


def init_app(app: Flask) -> None:
    from . import catalog_refresh_cli
    catalog_refresh_cli.register(catalog_cli)  # `flask catalog refresh` (its own module)
    for group in (catalog_cli, users_cli, invites_cli, db_cli, releases_cli):
        app.cli.add_command(group)
