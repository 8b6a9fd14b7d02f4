"""A first converge whose certificate cannot be issued, then the converge that gets it.

Production-like settings on the converged local VPS (`-e`): a server name, an ACME e-mail, an
ACME directory on a port where nothing listens (the ACME server is unreachable), and an alert
webhook: a small HTTP receiver on this machine's end of the VPS link. Before the converge the
backup and health-watch timers are removed, so the run has to install them again past the
failed issuance. Then: the site serves with its self-signed certificate and no HSTS, the
timers are back, the run failed in its last play naming the cause and the fix, the on-call
guide's nginx check works with a host name that is not the server name, and `kewpctl
alert-test` reaches the webhook. Recovery: Pebble (test_nginx_acme's fixture) answers, a
converge gets the certificate, HSTS is on, and renewals (certbot.timer's service, and the
README's `certbot renew --dry-run`) go to Pebble, the configured server. At the end the VPS
is converged back to the inventory's settings.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from . import test_nginx_acme as acme_test
from .conftest import LOG_DIR, REPO, PlaybookRun, link_ip
from .pebble import VPS_CA_BUNDLE, trust_listener_ca
from .webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("nginx", "certbot", "kewp-healthcheck", "kewp-backup")

NAME = acme_test.NAME
LIVE = acme_test.LIVE
UNREACHABLE_PORT = 14999
RECEIVER_PORT = 18099
REMOVED_TIMERS = ("kewp-backup.timer", "kewp-healthcheck.timer")
# The roles a site's first converge runs after the host basics (common, hardening, docker);
# kewp_host (alert.env) runs as kewp_app's dependency, so kewp_app's tag is needed for it.
TAGS = "kewp_app,nginx,backup,oncall"

# The same module-scoped fixture as test_nginx_acme's: Pebble and its DNS, started for this module.
pebble = acme_test.pebble


@dataclass
class Failed:
    run: PlaybookRun
    extra_vars: dict
    receiver: Receiver


def curl_vps(address: str, *args: str) -> str:
    return subprocess.run(["curl", "-sk", "--max-time", "20", "--resolve", f"{NAME}:443:{address}", *args],
                          capture_output=True, text=True, timeout=30, check=False).stdout


@pytest.fixture(scope="module")
def receiver(deployment) -> Iterator[Receiver]:
    with webhook_receiver(deployment.address, RECEIVER_PORT) as started:
        yield started


def forget_certificate(host) -> None:
    host.check_output(f"rm -rf {LIVE} /etc/letsencrypt/archive/{NAME} /etc/letsencrypt/renewal/{NAME}.conf")


@pytest.fixture(scope="module")
def failed(host, deployment, receiver, site_playbook: Callable[..., PlaybookRun]) -> Iterator[Failed]:
    forget_certificate(host)
    units = " ".join(REMOVED_TIMERS)
    host.check_output(f"systemctl disable --now {units} && cd /etc/systemd/system && rm -f {units} "
                      "&& systemctl daemon-reload")
    extra_vars = {
        "nginx_server_name": NAME,
        "nginx_acme_email": "curators@kewp.test",
        "nginx_acme_directory_url": f"https://{link_ip(deployment.address)}:{UNREACHABLE_PORT}/dir",
        "kewp_host_alert_webhook_url": receiver.url,
    }
    run = site_playbook("--tags", TAGS, "-e", json.dumps(extra_vars), label="acme-unreachable")
    try:
        yield Failed(run, extra_vars, receiver)
    finally:
        restore = site_playbook("--tags", TAGS, label="acme-failure-restore")
        forget_certificate(host)
        assert restore.returncode == 0, restore.tail()


@pytest.fixture(scope="module")
def recovered(host, failed, pebble, site_playbook: Callable[..., PlaybookRun]) -> PlaybookRun:
    directory_url, ca_cert = pebble
    trust_listener_ca(host, ca_cert)
    extra_vars = {**failed.extra_vars, "nginx_acme_directory_url": directory_url,
                  "nginx_acme_environment": {"REQUESTS_CA_BUNDLE": VPS_CA_BUNDLE}}
    return site_playbook("--tags", "nginx", "-e", json.dumps(extra_vars), label="acme-recovered")


def final_message(run: PlaybookRun) -> str:
    """The output after the last TASK header (the run's last failure and its message), as one line."""
    return " ".join(run.output.rsplit("\nTASK [", 1)[-1].split())


# ---------------------------------------------------------------- the failed issuance

def test_failed_issuance_fails_the_run_in_its_last_play(failed):
    assert failed.run.returncode != 0, failed.run.tail()
    assert failed.run.total("rescued") == 1
    assert failed.run.total("failed") == 1
    plays = re.findall(r"^PLAY \[(.*)\]", failed.run.output, re.MULTILINE)
    assert plays[-1] == "Report what the converge could not do"
    last = final_message(failed.run)
    assert last.startswith("nginx : Fail the run when the certificate could not be issued]"), last[:300]


def test_last_message_names_the_cause_and_the_fix(failed):
    last = final_message(failed.run)
    assert f"TLS CERTIFICATE NOT ISSUED for {NAME}" in last
    assert f":{UNREACHABLE_PORT}/dir" in last
    assert "Cause: certbot (unreachable)" in last
    assert re.search(r"Connection refused|Max retries|Failed to establish", last), last
    assert "Fix: This host could not reach the ACME server" in last
    assert "self-signed certificate meanwhile" in last


def test_site_serves_its_self_signed_certificate_meanwhile(failed, host, deployment):
    pem = acme_test.served_certificate(deployment.address, NAME)
    assert acme_test.x509(pem, "-subject") == f"subject=CN = {NAME}"
    assert acme_test.x509(pem, "-issuer") == f"issuer=CN = {NAME}"
    assert f"DNS:{NAME}" in acme_test.x509(pem, "-ext", "subjectAltName")
    assert "ssl_certificate /etc/nginx/tls/kewp.crt;" in host.check_output("nginx -T 2>/dev/null")
    headers = curl_vps(deployment.address, "-D", "-", "-o", "/dev/null", f"https://{NAME}/").lower()
    assert headers.startswith("http/2 200"), headers
    assert "strict-transport-security" not in headers


def test_backup_and_health_watch_timers_were_installed_past_the_failure(failed, host):
    for unit in REMOVED_TIMERS:
        timer = host.service(unit)
        assert timer.is_enabled, unit
        assert timer.is_running, unit


def test_oncall_nginx_check_uses_the_server_name_not_the_host_name(failed, host):
    # The guide's lines, as written, on a host whose name is not nginx_server_name.
    guide = (REPO / "docs" / "oncall.md").read_text()
    section = guide.split("### The front door (nginx) fails", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    check = [line for line in section.splitlines() if "/readyz" in line or "KEWP_HEALTHCHECK_HOST" in line]
    assert check, "docs/oncall.md's nginx section has no /readyz check"
    assert host.check_output("hostname -f") != NAME
    result = host.run("\n".join(check))
    assert result.rc == 0, result.stdout + result.stderr
    assert '"ready":true' in result.stdout, result.stdout


def test_alert_test_reaches_the_configured_webhook(failed, host):
    failed.receiver.posts.clear()
    result = host.run("kewpctl alert-test")
    assert result.rc == 0, result.stdout + result.stderr
    assert f"sent: webhook {failed.receiver.url.split('/')[2].split(':')[0]}" in result.stdout
    assert len(failed.receiver.posts) == 1
    post = failed.receiver.posts[0]
    assert post["unit"] == "alert-test"
    assert post["text"].startswith("TEST kewp:")


# ---------------------------------------------------------------- recovery

def test_next_converge_gets_the_certificate_once_the_acme_server_answers(recovered, host, deployment):
    assert recovered.returncode == 0, recovered.tail()
    assert recovered.total("rescued") == 0
    on_disk = host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -fingerprint -sha256")
    assert acme_test.x509(acme_test.served_certificate(deployment.address, NAME), "-fingerprint", "-sha256") \
        == on_disk.strip()


def test_hsts_comes_with_the_trusted_certificate(recovered, deployment):
    headers = curl_vps(deployment.address, "-D", "-", "-o", "/dev/null", f"https://{NAME}/").lower()
    assert "strict-transport-security: max-age=63072000" in headers


def pebble_orders() -> int:
    return (LOG_DIR / "pebble.log").read_text().count("/order-plz")


def test_renewals_started_by_certbot_timer_use_the_configured_server(recovered, host, pebble):
    directory_url, _ = pebble
    assert f"server = {directory_url}" in host.file("/etc/letsencrypt/cli.ini").content_string
    # certbot.service as the timer starts it, with --dry-run added (a runtime drop-in).
    dropin = "/run/systemd/system/certbot.service.d"
    exec_start = host.service("certbot").systemd_properties["ExecStart"]
    argv = re.search(r"argv\[\]=(.*?) ;", exec_start).group(1)
    before = pebble_orders()
    host.check_output(f"mkdir -p {dropin} && printf '[Service]\\nExecStart=\\nExecStart={argv} --dry-run\\n' "
                      f"> {dropin}/90-test.conf && systemctl daemon-reload")
    try:
        host.run("systemctl start certbot.service")
        props = host.service("certbot").systemd_properties
    finally:
        host.check_output(f"rm -rf {dropin} && systemctl daemon-reload")
    assert props["Result"] == "success", host.run("journalctl -u certbot -n 30 --no-pager").stdout
    assert pebble_orders() > before


def test_readme_dry_run_uses_the_configured_server(recovered, host):
    before = pebble_orders()
    # The nginx README's check; REQUESTS_CA_BUNDLE only because Pebble's own listener is test-signed.
    result = host.run(f"REQUESTS_CA_BUNDLE={VPS_CA_BUNDLE} certbot renew --dry-run")
    assert result.rc == 0, result.stdout + result.stderr
    assert pebble_orders() > before
