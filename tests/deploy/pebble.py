"""Pebble (Debian's `pebble`, a test ACME server) standing in for Let's Encrypt, for one local VPS.

No public ACME server is reachable from here, so Pebble plays Let's Encrypt and
`pebble-challtestsrv` answers its DNS queries: every name resolves to the VPS, and Pebble
really fetches the http-01 answer from nginx on the VPS's port 80. Both listen on this
machine's end of that VPS's link (conftest.link_ip), so each VPS gets its own Pebble.

Test-only (never in a role's defaults): the directory URL, and the CA of Pebble's own HTTPS
listener, which certbot on the VPS trusts through REQUESTS_CA_BUNDLE (trust_listener_ca).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from testinfra.host import Host

from .conftest import link_ip

PEBBLE_PORT = 14000
MANAGEMENT_PORT = PEBBLE_PORT + 1000
DNS_PORT = 8053
DNS_MANAGEMENT_PORT = 8055
VPS_CA_BUNDLE = "/usr/local/share/kewp-test/pebble-listener-ca.pem"


def wait_for_port(address: str, port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"nothing listens on {address}:{port} after {seconds} s")


def make_listener_certificate(directory: Path, ip: str) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate for Pebble's HTTPS listener on `ip`."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "listener.key", directory / "listener.csr", directory / "listener.pem"
    ext = directory / "listener.ext"
    ext.write_text(f"subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    commands = [
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", ca_key, "-out", ca_cert, "-days", "2", "-subj", "/CN=kewp test: Pebble listener CA"],
        ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", f"/CN={ip}"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ]
    for command in commands:
        subprocess.run([str(c) for c in command], capture_output=True, check=True)
    return ca_cert, cert, key


@contextmanager
def running_pebble(vps_address: str, work: Path, log_path: Path) -> Iterator[tuple[str, Path]]:
    """Pebble and its mock DNS for the VPS at `vps_address`, while the block runs; yields the ACME
    directory URL and the CA file of Pebble's listener. Output goes to `log_path`."""
    if not shutil.which("pebble"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "pebble"], capture_output=True, check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    ip = link_ip(vps_address)
    ca_cert, cert, key = make_listener_certificate(work, ip)
    config = work / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"{ip}:{PEBBLE_PORT}",
        "managementListenAddress": f"{ip}:{MANAGEMENT_PORT}",
        "certificate": str(cert), "privateKey": str(key),
        "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": False,
    }}))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    dns = subprocess.Popen(
        ["pebble-challtestsrv", "-defaultIPv4", vps_address, "-defaultIPv6", "",
         "-dns01", f"{ip}:{DNS_PORT}", "-http01", "", "-https01", "", "-tlsalpn01", "",
         "-management", f"{ip}:{DNS_MANAGEMENT_PORT}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    server = subprocess.Popen(
        ["pebble", "-config", str(config), "-dnsserver", f"{ip}:{DNS_PORT}"],
        stdout=log, stderr=subprocess.STDOUT,
        # No random sleeps before validation, no random nonce rejections: a deterministic test.
        env={**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"},
    )
    try:
        wait_for_port(ip, PEBBLE_PORT)
        wait_for_port(ip, DNS_MANAGEMENT_PORT)
        yield f"https://{ip}:{PEBBLE_PORT}/dir", ca_cert
    finally:
        for process in (server, dns):
            process.send_signal(signal.SIGTERM)
        for process in (server, dns):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def trust_listener_ca(host: Host, ca_cert: Path) -> None:
    """Put the listener's CA on the VPS at VPS_CA_BUNDLE (certbot's REQUESTS_CA_BUNDLE)."""
    host.check_output(f"mkdir -p {Path(VPS_CA_BUNDLE).parent}")
    host.check_output(f"cat > {VPS_CA_BUNDLE} <<'EOF'\n{ca_cert.read_text()}EOF")


def issuing_root(directory_url: str, ca_cert: Path) -> str:
    """The PEM root Pebble signs certificates with (new on every Pebble start), from its management API."""
    base = directory_url.rsplit(":", 1)[0]
    context = ssl.create_default_context(cafile=str(ca_cert))
    with urllib.request.urlopen(f"{base}:{MANAGEMENT_PORT}/roots/0", context=context, timeout=10) as reply:
        return reply.read().decode()
