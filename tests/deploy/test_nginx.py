"""The nginx role on the converged local VPS: TLS, security headers, limits, proxying.

Configuration is read on the VPS (`nginx -T`, the certificate); behaviour is checked from
this machine against the VPS's address over HTTPS, the way a browser reaches it.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("nginx", "kewp")

WEAK_CIPHER_MARKERS = ("RC4", "DES", "MD5", "NULL", "EXPORT", "aNULL", "eNULL", "PSK", "SRP", "CAMELLIA", "SEED",
                       "IDEA", "CBC", "SHA1")
# Strict-Transport-Security only with a trusted certificate: test_nginx_acme*.py.
SECURITY_HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy",
                    "permissions-policy")
STATIC_FILE = "/static/style.css"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def request(address: str, method: str, path: str, *, tls: bool = True, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Reply:
    """One HTTP(S) request from this machine to the VPS; the self-signed certificate is accepted."""
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(address, 443, timeout=30, context=context)
    else:
        conn = http.client.HTTPConnection(address, 80, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def nginx_config(host) -> str:
    """The whole configuration nginx runs with (`nginx -T`), comments dropped."""
    dump = host.check_output("nginx -T 2>/dev/null")
    return "\n".join(line.split("#", 1)[0].rstrip() for line in dump.splitlines())


def directive_values(config: str, name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^\s*{name}\s+([^;]*);", config, re.MULTILINE)]


def openssl_probe(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`openssl s_client` from this machine to the VPS (SECLEVEL 0: the client offers anything)."""
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"{address}:443", "-servername", "kewp.test", *args],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )


# --- package, service, configuration -------------------------------------------------------


def test_nginx_is_installed_enabled_and_running(host):
    assert host.package("nginx").is_installed
    service = host.service("nginx")
    assert service.is_enabled
    assert service.is_running


def test_configuration_passes_nginx_t(host):
    assert host.run("nginx -t").rc == 0


def test_default_site_is_disabled_and_kewp_site_enabled(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    enabled = host.file("/etc/nginx/sites-enabled/kewp.conf")
    assert enabled.is_symlink
    assert enabled.linked_to == "/etc/nginx/sites-available/kewp.conf"


def test_validator_rejects_a_broken_candidate_and_keeps_the_live_file(host):
    live = host.file("/etc/nginx/sites-available/kewp.conf").sha256sum
    host.check_output("printf 'server { listen 443 ssl; bogus_directive on; }\\n' > /tmp/kewp-broken.conf")
    result = host.run("/usr/local/sbin/nginx-validate-candidate /tmp/kewp-broken.conf "
                      "/etc/nginx/sites-available/kewp.conf")
    host.run("rm -f /tmp/kewp-broken.conf")
    assert result.rc != 0
    assert "bogus_directive" in result.stderr
    assert host.file("/etc/nginx/sites-available/kewp.conf").sha256sum == live


def test_validator_accepts_the_installed_site(host):
    result = host.run("/usr/local/sbin/nginx-validate-candidate /etc/nginx/sites-available/kewp.conf "
                      "/etc/nginx/sites-available/kewp.conf")
    assert result.rc == 0, result.stderr


def test_server_tokens_are_off(nginx_config):
    assert directive_values(nginx_config, "server_tokens") == ["off"]


def test_request_body_limit_matches_the_app(nginx_config):
    assert directive_values(nginx_config, "client_max_body_size") == ["2m"]


def test_only_tls_1_2_and_1_3_are_configured(nginx_config):
    protocols = directive_values(nginx_config, "ssl_protocols")
    assert protocols
    assert all(value.split() == ["TLSv1.2", "TLSv1.3"] for value in protocols)


def test_only_forward_secret_aead_ciphers_are_configured(nginx_config):
    (ciphers,) = directive_values(nginx_config, "ssl_ciphers")
    for cipher in ciphers.split(":"):
        assert cipher.startswith("ECDHE-"), cipher
        assert cipher.endswith(("GCM-SHA256", "GCM-SHA384", "CHACHA20-POLY1305")), cipher
        assert not any(marker in cipher for marker in WEAK_CIPHER_MARKERS), cipher


def test_session_tickets_are_off_and_the_client_order_is_used(nginx_config):
    assert directive_values(nginx_config, "ssl_session_tickets") == ["off"]
    assert directive_values(nginx_config, "ssl_prefer_server_ciphers") == ["off"]


def test_app_is_proxied_with_the_forwarded_headers(nginx_config):
    headers = dict(value.split(None, 1) for value in directive_values(nginx_config, "proxy_set_header"))
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-Host"] == "$host"
    assert headers["Host"] == "$host"
    assert re.search(r"server 127\.0\.0\.1:800[01];", nginx_config), "no blue/green upstream in nginx -T"


def test_login_and_api_are_rate_limited(nginx_config):
    zones = " ".join(directive_values(nginx_config, "limit_req_zone"))
    assert "zone=kewp_login:10m rate=10r/m" in zones
    assert "zone=kewp_api:10m rate=10r/s" in zones
    limits = directive_values(nginx_config, "limit_req")
    assert any(value.startswith("zone=kewp_login ") for value in limits)
    assert any(value.startswith("zone=kewp_api ") for value in limits)


# --- certificate ----------------------------------------------------------------------------


def test_private_key_is_readable_by_root_only(host):
    key = host.file("/etc/nginx/tls/kewp.key")
    assert key.user == "root"
    assert key.mode == 0o600


def test_certificate_is_valid_now_and_for_the_next_30_days(host):
    cert = "/etc/nginx/tls/kewp.crt"
    assert host.run(f"openssl x509 -in {cert} -noout -checkend 2592000").rc == 0
    not_before = host.check_output(f"openssl x509 -in {cert} -noout -startdate").split("=", 1)[1]
    assert host.run(f"test $(date -d '{not_before}' +%s) -le $(date +%s)").rc == 0


def test_certificate_names_the_vps_address(host, deployment):
    text = host.check_output("openssl x509 -in /etc/nginx/tls/kewp.crt -noout -ext subjectAltName")
    assert f"IP Address:{deployment.address}" in text


def test_served_certificate_is_the_one_on_disk(host, deployment):
    on_disk = host.check_output("openssl x509 -in /etc/nginx/tls/kewp.crt -noout -fingerprint -sha256")
    served = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=ssl.get_server_certificate((deployment.address, 443)), capture_output=True, text=True, check=True,
    ).stdout
    assert served.strip() == on_disk.strip()


def test_site_uses_the_self_signed_certificate_without_acme(nginx_config):
    # ACME needs a public name and an e-mail: the local VPS has neither (see test_nginx_acme.py).
    assert directive_values(nginx_config, "ssl_certificate") == ["/etc/nginx/tls/kewp.crt"]
    assert "letsencrypt/live" not in nginx_config


# --- TLS as seen from outside -------------------------------------------------------------


@pytest.mark.parametrize("old", ["-tls1", "-tls1_1"])
def test_old_tls_versions_are_refused(deployment, old):
    probe = openssl_probe(deployment.address, old, "-cipher", "DEFAULT@SECLEVEL=0")
    assert probe.returncode != 0
    assert "alert protocol version" in probe.stderr or "no protocols available" in probe.stderr, probe.stderr


@pytest.mark.parametrize(("version", "name"), [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_current_tls_versions_are_accepted(deployment, version, name):
    probe = openssl_probe(deployment.address, version)
    assert probe.returncode == 0, probe.stderr
    assert f"Protocol  : {name}" in probe.stdout or f"New, {name}" in probe.stdout


# The certificate has an ECDSA key: these would be usable with it if the server allowed them.
@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
                                    "ECDHE-ECDSA-AES256-SHA384", "AES128-GCM-SHA256", "AES256-SHA"])
def test_weak_tls_1_2_ciphers_are_refused(deployment, cipher):
    probe = openssl_probe(deployment.address, "-tls1_2", "-cipher", f"{cipher}@SECLEVEL=0")
    assert "no cipher match" not in probe.stderr, f"this machine's openssl cannot offer {cipher}"
    assert probe.returncode != 0
    assert "handshake failure" in probe.stderr, probe.stderr


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_strong_tls_1_2_ciphers_are_accepted(deployment, cipher):
    probe = openssl_probe(deployment.address, "-tls1_2", "-cipher", cipher)
    assert probe.returncode == 0, probe.stderr
    assert f"Cipher is {cipher}" in probe.stdout


def test_tls_session_tickets_are_not_issued(deployment):
    probe = openssl_probe(deployment.address, "-tls1_2")
    assert probe.returncode == 0, probe.stderr
    assert "TLS session ticket:" not in probe.stdout


# --- HTTP behaviour from outside ----------------------------------------------------------


def test_plain_http_redirects_to_https(deployment):
    reply = request(deployment.address, "GET", "/ke?q=liver", tls=False)
    assert reply.status == 301
    assert reply.headers["location"] == f"https://{deployment.address}/ke?q=liver"


def test_acme_challenges_are_answered_over_plain_http(host, deployment):
    webroot = "/var/lib/letsencrypt/webroot/.well-known/acme-challenge"
    host.check_output(f"mkdir -p {webroot} && echo kewp-token > {webroot}/kewp-test-token")
    try:
        reply = request(deployment.address, "GET", "/.well-known/acme-challenge/kewp-test-token", tls=False)
    finally:
        host.run(f"rm -f {webroot}/kewp-test-token")
    assert reply.status == 200
    assert reply.body == b"kewp-token\n"


def test_https_serves_the_app_with_the_security_headers(deployment):
    reply = request(deployment.address, "GET", "/")
    assert reply.status == 200
    assert b"kewp" in reply.body
    for header in SECURITY_HEADERS:
        assert header in reply.headers, header
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "same-origin"


def test_no_hsts_with_the_self_signed_certificate(deployment):
    # HSTS would make browsers refuse the site outright while its certificate is untrusted.
    assert "strict-transport-security" not in request(deployment.address, "GET", "/").headers


def test_content_security_policy_allows_only_own_resources(deployment):
    csp = request(deployment.address, "GET", "/").headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp


def test_server_header_does_not_show_the_version(deployment):
    reply = request(deployment.address, "GET", "/")
    assert reply.headers["server"] == "nginx"


def test_error_pages_carry_the_security_headers_too(deployment):
    reply = request(deployment.address, "GET", "/no-such-page")
    assert reply.status == 404
    for header in SECURITY_HEADERS:
        assert header in reply.headers, header


def test_static_files_are_cached_by_browsers(deployment):
    reply = request(deployment.address, "GET", STATIC_FILE)
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/css")
    assert reply.headers["cache-control"] == "max-age=3600"
    assert "set-cookie" not in reply.headers
    assert "content-security-policy" in reply.headers


@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_health_endpoints_are_not_served_to_the_outside(deployment, path):
    assert request(deployment.address, "GET", path).status == 404


@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_health_endpoints_answer_local_callers_through_nginx(host, path):
    status = host.check_output(f"curl -sk -o /dev/null -w '%{{http_code}}' https://127.0.0.1{path}")
    assert status == "200"


def test_app_sees_https_and_the_public_host(deployment):
    # ProxyFix in the app (KEWP_TRUSTED_PROXIES=1) turns X-Forwarded-Proto/Host into the
    # external URLs the API hands out.
    reply = request(deployment.address, "GET", "/api/v1/", headers={"Accept": "application/json"})
    assert reply.status == 200
    assert json.loads(reply.body)["openapi"].startswith(f"https://{deployment.address}/")


def test_request_bodies_over_2_mb_are_refused_by_nginx(deployment):
    # Not /login: that would spend this machine's sign-in budget (the browser test needs it).
    reply = request(deployment.address, "POST", "/mappings/propose", body=b"x" * (3 * 1024 * 1024),
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status == 413
    assert reply.headers["server"] == "nginx"


def hammer(address: str, path: str, *, clients: int = 16, seconds: float = 20.0) -> list[int]:
    """Statuses of GET `path` from `clients` keep-alive connections, until a 429 or time is up."""
    stop = threading.Event()
    deadline = time.monotonic() + seconds

    def client() -> list[int]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(address, 443, timeout=30, context=context)
        statuses = []
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
                if response.status == 429:
                    stop.set()
        finally:
            conn.close()
        return statuses

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(lambda _: client(), range(clients)))
    return [status for statuses in results for status in statuses]


def test_api_requests_over_the_limit_get_429(deployment):
    start = time.monotonic()
    statuses = hammer(deployment.address, "/api/v1/no-such-thing")
    elapsed = time.monotonic() - start
    assert 429 in statuses, f"{len(statuses)} requests in {elapsed:.1f} s and none limited"
    # 10 r/s with a burst of 40: what got through before the first 429 stays within that.
    assert len([s for s in statuses if s != 429]) <= 41 + 10 * elapsed + 16
    time.sleep(5)  # the bucket refills for the next tests


def test_sign_in_attempts_over_the_limit_get_429(host):
    # From the VPS itself (127.0.0.1), so this machine's address keeps its sign-in budget.
    statuses = host.check_output(
        "for i in $(seq 1 12); do curl -sk -o /dev/null -w '%{http_code} ' -X POST "
        "-d username=nobody -d password=wrong https://127.0.0.1/login; done"
    ).split()
    assert "429" in statuses
    assert statuses.index("429") >= 5  # the burst of 5 (+1) gets through first
