"""The nginx role's ACME path, end to end against Pebble (a test ACME server) on this machine.

Pebble plays Let's Encrypt (tests/deploy/pebble.py: the test name resolves to the VPS, and
Pebble really fetches the http-01 answer from nginx on the VPS's port 80). The nginx role is
converged with ACME settings (`--tags nginx -e ...`): certbot issues the certificate, nginx
switches to it, a second converge changes nothing, a forced renewal runs the deploy hook and
nginx serves the new certificate. At the end the VPS is converged back to the inventory's
settings (self-signed) for the tests that follow.

Test-only (never in the role's defaults): the directory URL and REQUESTS_CA_BUNDLE that
lets certbot trust Pebble's own HTTPS listener.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import LOG_DIR, PlaybookRun
from .pebble import VPS_CA_BUNDLE, running_pebble, trust_listener_ca

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("nginx", "certbot")

NAME = "kewp.test"
LIVE = f"/etc/letsencrypt/live/{NAME}"
HOOK = "/etc/letsencrypt/renewal-hooks/deploy/kewp-reload-nginx"


@dataclass
class Acme:
    """The VPS converged with ACME settings, and how to run certbot against Pebble."""

    first: PlaybookRun
    second: PlaybookRun
    extra_vars: dict
    certbot_env: str


def served_certificate(address: str, server_name: str) -> str:
    """The PEM certificate nginx presents for `server_name` (SNI)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, 443), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der)


def x509(pem: str, *args: str) -> str:
    return subprocess.run(["openssl", "x509", "-noout", *args], input=pem, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def pebble(deployment, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """Pebble and its mock DNS on this machine's end of the VPS link; yields the directory URL."""
    with running_pebble(deployment.address, tmp_path_factory.mktemp("pebble"), LOG_DIR / "pebble.log") as started:
        yield started


@pytest.fixture(scope="module")
def acme(host, pebble, site_playbook: Callable[..., PlaybookRun]) -> Iterator[Acme]:
    directory_url, ca_cert = pebble
    trust_listener_ca(host, ca_cert)
    extra_vars = {
        "nginx_server_name": NAME,
        "nginx_acme_email": "curators@kewp.test",
        "nginx_acme_directory_url": directory_url,
        "nginx_acme_environment": {"REQUESTS_CA_BUNDLE": VPS_CA_BUNDLE},
    }
    args = ("--tags", "nginx", "-e", json.dumps(extra_vars))
    first = site_playbook(*args, label="acme-converge-1")
    second = site_playbook(*args, label="acme-converge-2") if first.returncode == 0 else first
    try:
        yield Acme(first, second, extra_vars, f"REQUESTS_CA_BUNDLE={VPS_CA_BUNDLE}")
    finally:
        # Back to the inventory's settings (self-signed) for the tests that follow.
        restore = site_playbook("--tags", "nginx", label="acme-restore")
        assert restore.returncode == 0, restore.tail()


def test_acme_converge_succeeds(acme):
    assert acme.first.returncode == 0, acme.first.tail()
    assert acme.first.total("failed") == 0


def test_acme_converge_is_idempotent(acme):
    assert acme.second.returncode == 0, acme.second.tail()
    assert acme.second.total("changed") == 0, f"tasks that changed: {acme.second.changed_tasks()}"


def test_certificate_was_issued_by_the_acme_server(acme, host):
    assert host.file(f"{LIVE}/fullchain.pem").exists
    assert host.file(f"{LIVE}/privkey.pem").exists
    issuer = host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -issuer")
    assert "Pebble" in issuer
    assert host.run(f"openssl x509 -in {LIVE}/cert.pem -noout -checkend 86400").rc == 0


def test_nginx_serves_the_acme_certificate(acme, host, deployment):
    on_disk = host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -fingerprint -sha256")
    assert x509(served_certificate(deployment.address, NAME), "-fingerprint", "-sha256") == on_disk.strip()
    assert f"ssl_certificate {LIVE}/fullchain.pem;" in host.check_output("nginx -T 2>/dev/null")


def test_renewal_timer_is_enabled_and_scheduled(acme, host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled
    assert timer.systemd_properties["ActiveState"] == "active"
    assert host.check_output("systemctl show -p Persistent --value certbot.timer") == "yes"
    assert host.check_output("systemctl show -p NextElapseUSecRealtime --value certbot.timer")
    exec_start = host.service("certbot").systemd_properties["ExecStart"]
    assert "certbot" in exec_start
    assert "renew" in exec_start


def test_renewal_configuration_uses_the_webroot(acme, host):
    renewal = host.file(f"/etc/letsencrypt/renewal/{NAME}.conf").content_string
    assert "authenticator = webroot" in renewal
    assert "/var/lib/letsencrypt/webroot" in renewal


def test_deploy_hook_checks_and_reloads_nginx(acme, host):
    hook = host.file(HOOK)
    assert hook.user == "root"
    assert hook.mode == 0o755
    assert "nginx -t" in hook.content_string
    assert "systemctl reload nginx" in hook.content_string


def test_forced_renewal_runs_the_hook_and_nginx_serves_the_new_certificate(acme, host, deployment):
    before = x509(served_certificate(deployment.address, NAME), "-serial")
    renew = host.run(f"{acme.certbot_env} certbot renew --force-renewal --no-random-sleep-on-renew")
    assert renew.rc == 0, renew.stdout + renew.stderr
    assert "kewp-reload-nginx" in renew.stdout + renew.stderr
    deadline = time.monotonic() + 10
    after = before
    while after == before and time.monotonic() < deadline:
        time.sleep(0.5)
        after = x509(served_certificate(deployment.address, NAME), "-serial")
    assert after != before
    on_disk = host.check_output(f"openssl x509 -in {LIVE}/cert.pem -noout -serial")
    assert after == on_disk.strip()


def test_hsts_is_sent_with_the_acme_certificate(acme, deployment):
    reply = subprocess.run(
        ["curl", "-skI", "--resolve", f"{NAME}:443:{deployment.address}", f"https://{NAME}/"],
        capture_output=True, text=True, timeout=30, check=False,
    ).stdout.lower()
    assert "strict-transport-security: max-age=63072000" in reply


def test_unknown_names_get_no_tls_handshake(acme, deployment):
    with pytest.raises(ssl.SSLError):
        served_certificate(deployment.address, "other.example")


def test_http_redirects_to_the_public_name(acme, deployment):
    reply = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-H", f"Host: {NAME}",
         f"http://{deployment.address}/ke?q=x"],
        capture_output=True, text=True, timeout=30, check=False,
    ).stdout
    assert reply == f"301 https://{NAME}/ke?q=x"


def test_ocsp_stapling_stays_off_for_lets_encrypt_style_certificates(acme, host):
    # Let's Encrypt certificates carry no OCSP URL since 2025: nginx_ssl_stapling defaults off.
    assert "ssl_stapling on" not in host.check_output("nginx -T 2>/dev/null")
