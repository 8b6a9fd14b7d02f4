"""`kewp-backup alert UNIT`: report a failed systemd unit to the journal, a webhook and mail."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import smtplib
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from kewp_host import systemd
from kewp_host.backup.common import EXIT_ERROR, EXIT_OK, Config, Failure, log, utc
from kewp_host.commands import run
from kewp_host.settings import read_env_file

# Written by the kewp_host role (root, 0600); kewp-alert@.service reads it as EnvironmentFile=.
ALERT_ENV = "/etc/kewp/alert.env"
NO_CHANNEL = ("alerts reach nobody: set kewp_host_alert_webhook_url or kewp_host_alert_mail_to in the "
              "inventory and converge playbooks/site.yml")


@dataclass(frozen=True)
class Channels:
    """Where an alert goes besides the journal: the KEWP_ALERT_* settings of alert.env."""

    webhook_url: str = ""
    mail_to: str = ""
    mail_from: str = ""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Channels:
        def get(key: str) -> str:
            return env.get(f"KEWP_ALERT_{key}", "").strip()
        port = get("SMTP_PORT") or "25"
        if not port.isdigit():
            raise Failure(EXIT_ERROR, f"KEWP_ALERT_SMTP_PORT={port!r}: give a port number (kewp_host_alert_smtp_port)")
        return cls(webhook_url=get("WEBHOOK_URL"), mail_to=get("MAIL_TO"), mail_from=get("MAIL_FROM"),
                   smtp_host=get("SMTP_HOST") or "localhost", smtp_port=int(port),
                   smtp_starttls=get("SMTP_STARTTLS").lower() in ("1", "true", "yes"),
                   smtp_user=get("SMTP_USER"), smtp_password=env.get("KEWP_ALERT_SMTP_PASSWORD", ""))

    @classmethod
    def from_file(cls, path: Path) -> Channels:
        """The settings of an alert.env as systemd reads them (values in double quotes, \\ and \" escaped)."""
        values = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in read_env_file(path).items()}
        return cls.from_env(values)

    def configured(self) -> list[str]:
        """Each channel set, in words (no secrets: the webhook by its host only)."""
        where = []
        if self.webhook_url:
            where.append(f"webhook {urllib.parse.urlsplit(self.webhook_url).netloc or self.webhook_url[:20]}")
        if self.mail_to:
            where.append(f"mail to {self.mail_to} via {self.smtp_host}:{self.smtp_port}")
        return where


def send(channels: Channels, subject: str, headline: str, lines: list[str],
         fields: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Send one alert to every configured channel: (what it was delivered to, what failed and why)."""
    delivered, failed = [], []
    url = channels.webhook_url
    if url:
        body = json.dumps({"text": headline + "\n" + "\n".join(lines), **fields, "log": lines}).encode()
        netloc = urllib.parse.urlsplit(url).netloc
        try:
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"KEWP_ALERT_WEBHOOK_URL must be an http(s) URL, got {url.split(':')[0]}:...")
            request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (scheme checked)
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 (scheme checked)
                delivered.append(f"webhook {netloc} (HTTP {response.status})")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failed.append(f"webhook {netloc}: {exc}")
    if channels.mail_to:
        host = socket.gethostname()
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = channels.mail_from or f"kewp@{host}"
        msg["To"] = channels.mail_to
        msg.set_content(headline + "\n\n" + "\n".join(lines) + "\n")
        try:
            with smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=15) as smtp:
                if channels.smtp_starttls:
                    smtp.starttls()
                if channels.smtp_user:
                    smtp.login(channels.smtp_user, channels.smtp_password)
                smtp.send_message(msg)
            delivered.append(f"mail to {channels.mail_to} via {channels.smtp_host}:{channels.smtp_port}")
        except (smtplib.SMTPException, OSError) as exc:
            failed.append(f"mail via {channels.smtp_host}:{channels.smtp_port}: {exc}")
    return delivered, failed


def runbook_anchor(documentation: str) -> str:
    """The runbook section for a failure of a unit: the first oncall.md#ANCHOR of its
    Documentation= (each kewp unit names its own first), else the general #alerts."""
    for url in documentation.split():
        if "oncall.md#" in url:
            return url.rsplit("#", 1)[1]
    return "alerts"


def cmd_alert(_cfg: Config, args: argparse.Namespace) -> int:
    unit = args.unit
    host = socket.gethostname()
    props = systemd.show(unit, "Result", "ExecMainStatus", "InvocationID", "StateChangeTimestamp", "Documentation")
    result = props.get("Result") or "unknown"
    status = props.get("ExecMainStatus") or "?"
    when = props.get("StateChangeTimestamp") or utc(dt.datetime.now(dt.UTC))
    got = run(*systemd.journal_argv(unit, props.get("InvocationID"), args.lines))
    lines = [ln for ln in got.stdout.splitlines() if ln.strip() and not ln.startswith("-- ")]
    if not lines:
        lines = [f"(no log lines readable: {got.stderr.strip() or 'journal empty'})"]
    headline = (f"ALERT kewp: {unit} failed on {host} at {when} (result={result}, exit status {status}); "
                f"runbook: docs/oncall.md#{runbook_anchor(props.get('Documentation', ''))}; journalctl -u {unit}")
    log(headline, "crit")
    for line in lines:
        log(f"  {line}", "error")
    delivered, failed = send(Channels.from_env(os.environ), f"[kewp] {unit} failed on {host}",
                             headline, lines, {"unit": unit, "host": host, "result": result,
                                               "exit_status": status, "at": when})
    for what in delivered:
        log(f"alert sent: {what}")
    if failed:
        raise Failure(EXIT_ERROR, "could not deliver the alert: " + "; ".join(failed))
    if not delivered and not failed:
        log(f"no webhook or mail configured ({ALERT_ENV}): the journal line above is the alert")
    return EXIT_OK


