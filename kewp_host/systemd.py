"""systemd from the host tools: unit properties, the journal of one run, and the notify socket."""

from __future__ import annotations

import os
import socket

from kewp_host.commands import Runner, run


def properties(text: str) -> dict[str, str]:
    """`systemctl show` output (KEY=VALUE lines) as a dict."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def show(unit: str, *props: str, options: tuple[str, ...] = (), runner: Runner = run) -> dict[str, str]:
    """The named properties of a unit (`systemctl show UNIT [options] -p P ...`)."""
    argv = ["systemctl", "show", unit, *options]
    for prop in props:
        argv += ["-p", prop]
    return properties(runner(*argv).stdout)


def journal_argv(unit: str, invocation: str | None, lines: int) -> list[str]:
    """journalctl for the last lines of one run of a unit (its InvocationID), else of the unit."""
    argv = ["journalctl", "--no-pager", "-o", "short-iso", "-n", str(lines)]
    return argv + ([f"_SYSTEMD_INVOCATION_ID={invocation}"] if invocation else ["-u", unit])


def notify_status(text: str) -> str | None:
    """Set the unit's status text (sd_notify STATUS=) when systemd gave a NOTIFY_SOCKET.

    Returns None when sent or when there is no socket, else why it could not be sent."""
    return notify(f"STATUS={text[:1000]}")


def notify(message: str) -> str | None:
    """Send sd_notify lines (STATUS=..., MAINPID=...) when systemd gave a NOTIFY_SOCKET.

    Returns None when sent or when there is no socket, else why it could not be sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return None
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        return str(exc)
    return None
