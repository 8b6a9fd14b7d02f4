"""Issue 18: with mail configured, the proposer is told the outcome of a review by e-mail. A real SMTP
server (aiosmtpd) on 127.0.0.1 receives the messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from email import message_from_bytes, policy

import pytest

from app.services import users

from .helpers import PASSWORD, count, csrf_token, free_port, propose, sign_in


class Inbox:
    """aiosmtpd's handler: keeps every message it is sent, with its envelope and connection."""

    def __init__(self) -> None:
        self.messages: list = []
        self.sessions: set = set()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.sessions.add(session.peer)   # (address, port): one per connection
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    inbox = Inbox()
    port = free_port()
    controller = controller_module.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def mail_site(make_app, port: int):
    return make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none", SMTP_FROM="kewp@example.org")


@pytest.fixture
def proposer(conn):
    user, _ = users.create_user(conn, "cora", "curator", PASSWORD)
    users.set_email(conn, "cora", "cora@example.org")
    return user


def admin(client, conn):
    sign_in(client, conn, "ada", "admin")
    return client


def decide(client, proposal_id: int, decision: str, comment: str = ""):
    return client.post(f"/review/{proposal_id}/{decision}",
                       data={"comment": comment, "csrf_token": csrf_token(client, "/review")})


@pytest.mark.parametrize("case", [
    ("approve", "approved", "Clear evidence, thanks."),
    ("reject", "rejected", "The pathway is about another tissue."),
])
def test_a_decision_is_mailed_to_the_proposer_with_the_comment(make_app, smtp_server, conn, proposer, case):
    decision, outcome, comment = case
    inbox, port = smtp_server
    client = admin(mail_site(make_app, port).test_client(), conn)
    proposal_id = propose(conn)
    assert decide(client, proposal_id, decision, comment).status_code == 303
    ((recipients, message),) = inbox.messages
    assert recipients == ["cora@example.org"] and message["From"] == "kewp@example.org"
    assert message["Subject"] == f"kewp: your proposal {proposal_id} (KE 55 → WP254) was {outcome}"
    body = message.get_content()
    assert f"{outcome} by ada" in body and comment in body
    assert f"http://127.0.0.1:8000/mappings/proposals/{proposal_id}" in body


def test_a_bulk_decision_mails_each_proposal_over_one_connection(make_app, smtp_server, conn, proposer):
    inbox, port = smtp_server
    client = admin(mail_site(make_app, port).test_client(), conn)
    ids = [propose(conn, wp="WP3915"), propose(conn, wp="WP2879")]
    response = client.post("/review/bulk", data={"csrf_token": csrf_token(client, "/review"), "confirm": "yes",
                                                 "ids": [str(i) for i in ids], "decision": "approve"})
    assert response.status_code == 303
    assert sorted(m["Subject"].split()[3] for _, m in inbox.messages) == sorted(str(i) for i in ids)
    assert len(inbox.sessions) == 1


def test_a_proposer_without_an_address_gets_no_mail(make_app, smtp_server, conn):
    inbox, port = smtp_server
    users.create_user(conn, "cora", "curator", PASSWORD)
    client = admin(mail_site(make_app, port).test_client(), conn)
    assert decide(client, propose(conn), "approve").status_code == 303
    assert inbox.messages == []


def test_a_mail_server_that_is_down_never_fails_the_decision(make_app, conn, proposer, caplog):
    client = admin(mail_site(make_app, free_port()).test_client(), conn)   # nothing listens there
    proposal_id = propose(conn)
    with caplog.at_level(logging.WARNING, logger="app.services.review_notices"):
        assert decide(client, proposal_id, "approve").status_code == 303
    assert count(conn, "mappings") == 1
    assert "1 of 1 not sent via 127.0.0.1" in caplog.text


def test_a_bad_address_is_refused_with_the_reason(conn, proposer):
    with pytest.raises(users.UserError, match="not an e-mail address"):
        users.set_email(conn, "cora", "cora at example")
