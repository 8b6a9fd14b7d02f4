"""The app's /readyz answer: fetching it over plain HTTP, and reading what it says."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def release_state_dir() -> Path:
    """kewp-release's state (kewp.service's StateDirectory=): live.env names the colour that serves."""
    return Path(os.environ.get("KEWP_RELEASE_STATE_DIR", "/var/lib/kewp-release"))


def live_state() -> dict[str, str]:
    """live.env as a dict (KEWP_COLOUR, KEWP_HOST_PORT); empty before the first release."""
    try:
        text = (release_state_dir() / "live.env").read_text(encoding="utf-8")
    except OSError:
        return {}
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def live_url(path: str = "/readyz") -> str:
    """The app on the loopback port of the colour that serves: live.env, else $KEWP_HOST_PORT
    (the unit's environment), else blue's 8000. Blue/green alternates it on every release."""
    port = live_state().get("KEWP_HOST_PORT") or os.environ.get("KEWP_HOST_PORT") or "8000"
    return f"http://127.0.0.1:{port}{path}"


def fetch(url: str, timeout: float, limit: int = 4000) -> tuple[int | None, bytes, str]:
    """(HTTP status or None, the first `limit` bytes of the body, why there was no answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (operator-set local URL)
            return response.status, response.read(limit), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(limit), ""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, b"", str(getattr(exc, "reason", exc))


@dataclass
class Readiness:
    """What one /readyz answer says. ready: HTTP 200 and {"ready": true}. writable is False only when
    the app said {"writable": false} (its data disk is full): it may then be ready, yet save nothing."""

    status: int | None
    doc: dict[str, Any] | None = None
    ready: bool = False
    writable: bool = True
    disk: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str((self.doc or {}).get("version", "?"))

    def reasons(self) -> dict[str, Any]:
        """Everything the app said except ready and version."""
        return {k: v for k, v in (self.doc or {}).items() if k not in ("ready", "version")}


def read(status: int | None, body: bytes | str) -> Readiness:
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return Readiness(status)
    disk = doc.get("disk")
    return Readiness(status, doc, ready=status == 200 and doc.get("ready") is True,
                     writable=doc.get("writable") is not False, disk=disk if isinstance(disk, dict) else {})
