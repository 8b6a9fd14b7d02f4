"""E-mail notices of review outcomes: the proposer learns that a proposal was approved or rejected,
by whom and with what comment. No Flask imports.

Sent after the decision is committed, over one SMTP connection per request, with a short timeout:
a mail server that is down or slow delays the reviewer by at most that, is logged, and never
undoes or fails a decision (the outcome is on "My proposals" anyway). Only proposers with an
address (`flask users set-email`, or a provider's verified e-mail) are mailed.
"""

from __future__ import annotations

import logging
import smtplib
import sqlite3
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from . import users

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    security: str        # starttls | tls | none
    sender: str
    user: str
    password: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MailSettings | None:
        """None when no SMTP host is configured (then nothing is mailed)."""
        if not config.get("SMTP_HOST"):
            return None
        return cls(config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_SECURITY"], config["SMTP_FROM"],
                   config["SMTP_USER"], config["SMTP_PASSWORD"])


def notice(conn: sqlite3.Connection, proposal_id: int, *, sender: str, site: str) -> EmailMessage | None:
    """The message telling the proposer this proposal's outcome; None when it is undecided or
    the proposer has no address."""
    row = conn.execute("SELECT p.*, k.title AS ke_title, w.title AS wp_title FROM proposals p "
                       "JOIN key_events k ON k.ke_id = p.ke_id JOIN pathways w ON w.wp_id = p.wp_id "
                       "WHERE p.id = ?", (proposal_id,)).fetchone()
    if row is None or row["status"] not in ("approved", "rejected"):
        return None
    address = users.email_of(conn, row["proposed_by"])
    if not address:
        return None
    verb = {"create": "map", "change": "change the mapping of", "delete": "delete the mapping of"}[row["action"]]
    message = EmailMessage()
    message["Subject"] = f"kewp: your proposal {row['id']} ({row['ke_id']} → {row['wp_id']}) was {row['status']}"
    message["From"] = sender
    message["To"] = address
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    comment = row["review_comment"] or "(no comment)"
    message.set_content(
        f"Hello {row['proposed_by']},\n\n"
        f"your proposal {row['id']} to {verb} {row['ke_id']} ({row['ke_title']}) → {row['wp_id']} "
        f"({row['wp_title']}) was {row['status']} by {row['reviewed_by']} on {row['reviewed_at']} UTC.\n\n"
        f"Comment: {comment}\n\n"
        f"Your proposals: {site}/mappings/mine\n"
        f"This proposal: {site}/mappings/proposals/{row['id']}\n\n"
        "-- \nkewp sends this because an admin set your address or your sign-in provider verified it.\n")
    return message


def send(settings: MailSettings, messages: Iterable[EmailMessage]) -> int:
    """Send over one connection; returns how many went. Failures are logged, never raised."""
    messages = list(messages)
    if not messages:
        return 0
    sent = 0
    try:
        context = ssl.create_default_context()
        if settings.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT_SECONDS,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=context)
            if settings.user:
                smtp.login(settings.user, settings.password)
            for message in messages:
                smtp.send_message(message)
                sent += 1
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("review notices: %d of %d not sent via %s:%d: %s", len(messages) - sent, len(messages),
                    settings.host, settings.port, exc)
    else:
        log.info("review notices: %d sent via %s:%d", sent, settings.host, settings.port)
    return sent


def notify(conn: sqlite3.Connection, settings: MailSettings | None, proposal_ids: Iterable[int], site: str) -> int:
    """Mail the outcome of each decided proposal to its proposer (when mail is configured)."""
    if settings is None:
        return 0
    messages = [m for m in (notice(conn, pid, sender=settings.sender, site=site) for pid in proposal_ids) if m]
    return send(settings, messages)
