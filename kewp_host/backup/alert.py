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
from email.message import EmailMessage

from kewp_host import systemd
from kewp_host.backup.common import EXIT_ERROR, EXIT_OK, Config, Failure, log, utc
from kewp_host.commands import run


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
    delivered, failed = [], []
    url = os.environ.get("KEWP_ALERT_WEBHOOK_URL", "").strip()
    if url:
        body = json.dumps({"text": headline + "\n" + "\n".join(lines), "unit": unit, "host": host,
                           "result": result, "exit_status": status, "at": when, "log": lines}).encode()
        try:
            if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"KEWP_ALERT_WEBHOOK_URL must be an http(s) URL, got {url.split(':')[0]}:...")
            request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (scheme checked)
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 (scheme checked)
                delivered.append(f"webhook (HTTP {response.status})")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failed.append(f"webhook {urllib.parse.urlsplit(url).netloc}: {exc}")
    mail_to = os.environ.get("KEWP_ALERT_MAIL_TO", "").strip()
    if mail_to:
        msg = EmailMessage()
        msg["Subject"] = f"[kewp] {unit} failed on {host}"
        msg["From"] = os.environ.get("KEWP_ALERT_MAIL_FROM", "").strip() or f"kewp@{host}"
        msg["To"] = mail_to
        msg.set_content(headline + "\n\n" + "\n".join(lines) + "\n")
        smtp_host = os.environ.get("KEWP_ALERT_SMTP_HOST", "").strip() or "localhost"
        smtp_port = int(os.environ.get("KEWP_ALERT_SMTP_PORT", "").strip() or "25")
        try:
            with smtplib.SMTP(smtp_host, smtp_port, timeout=15) as smtp:
                if os.environ.get("KEWP_ALERT_SMTP_STARTTLS", "").strip().lower() in ("1", "true", "yes"):
                    smtp.starttls()
                user = os.environ.get("KEWP_ALERT_SMTP_USER", "").strip()
                if user:
                    smtp.login(user, os.environ.get("KEWP_ALERT_SMTP_PASSWORD", ""))
                smtp.send_message(msg)
            delivered.append(f"mail to {mail_to}")
        except (smtplib.SMTPException, OSError) as exc:
            failed.append(f"mail via {smtp_host}:{smtp_port}: {exc}")
    for what in delivered:
        log(f"alert sent: {what}")
    if failed:
        raise Failure(EXIT_ERROR, "could not deliver the alert: " + "; ".join(failed))
    if not url and not mail_to:
        log("no webhook or mail configured (/etc/kewp/alert.env): the journal line above is the alert")
    return EXIT_OK


