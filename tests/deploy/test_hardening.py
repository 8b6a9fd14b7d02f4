"""The hardening role on the converged local VPS: nftables firewall, sshd, sysctl, updates.

Some checks run on the VPS (testinfra), others from this machine against the VPS's own
address, the way an attacker on the internet would see it.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import time

import pytest

from .conftest import SSH_CONFIG

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("nftables", "ssh", "docker")

PUBLIC_TCP_PORTS = {22, 80, 443}


def kewp_filter(host) -> list[dict]:
    """The objects (table, chains, sets, rules) of table inet kewp_filter, from `nft -j`."""
    ruleset = json.loads(host.check_output("nft -j list table inet kewp_filter"))
    return [item for item in ruleset["nftables"] if "metainfo" not in item]


def chain(host, name: str) -> dict:
    chains = [item["chain"] for item in kewp_filter(host) if "chain" in item]
    return next(c for c in chains if c["name"] == name)


def rules(host, chain_name: str) -> list[dict]:
    return [item["rule"] for item in kewp_filter(host) if "rule" in item and item["rule"]["chain"] == chain_name]


def accepted_tcp_ports(host) -> set[int]:
    """Destination ports of the input chain's rules that end in accept with a tcp dport match."""
    ports: set[int] = set()
    for rule in rules(host, "input"):
        if not any("accept" in stmt for stmt in rule["expr"]):
            continue
        for stmt in rule["expr"]:
            match = stmt.get("match", {})
            if match.get("left", {}).get("payload", {}) == {"protocol": "tcp", "field": "dport"}:
                right = match["right"]
                values = right["set"] if isinstance(right, dict) else [right]
                ports.update(int(v) for v in values)
    return ports


def listening(host) -> list[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP/UDP socket."""
    result = []
    for spec in host.socket.get_listening_sockets():
        protocol, _, rest = spec.partition("://")
        if protocol not in ("tcp", "udp"):
            continue
        address, _, port = rest.rpartition(":")
        result.append((protocol, address, int(port)))
    return result


def connect(address: str, port: int, timeout: float = 5.0) -> str:
    """'open', 'refused' or 'timeout' for a TCP connection from this machine."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


# --- firewall ------------------------------------------------------------------------------


def test_nftables_is_installed_enabled_and_active(host):
    assert host.package("nftables").is_installed
    service = host.service("nftables")
    assert service.is_enabled
    assert service.systemd_properties["ActiveState"] == "active"


def test_rules_are_checked_by_nft_and_owned_by_root(host):
    assert host.run("nft -c -f /etc/nftables.conf").rc == 0
    conf = host.file("/etc/nftables.conf")
    assert conf.user == "root"
    assert conf.group == "root"
    assert not conf.mode & 0o022


def test_ruleset_never_flushes_docker_tables(host):
    content = host.file("/etc/nftables.conf").content_string
    active_lines = [line.strip() for line in content.splitlines() if not line.strip().startswith("#")]
    assert "flush ruleset" not in active_lines
    assert "delete table inet kewp_filter" in active_lines


def test_stopping_nftables_deletes_only_our_table(host):
    exec_stop = host.service("nftables").systemd_properties["ExecStop"]
    assert "delete table inet kewp_filter" in exec_stop
    assert "flush" not in exec_stop


def test_input_chain_drops_by_default(host):
    input_chain = chain(host, "input")
    assert input_chain["hook"] == "input"
    assert input_chain["policy"] == "drop"


def test_input_chain_opens_only_ssh_http_and_https(host):
    assert accepted_tcp_ports(host) == PUBLIC_TCP_PORTS


def test_input_chain_accepts_loopback_and_replies(host):
    listing = host.check_output("nft list chain inet kewp_filter input")
    assert 'iif "lo" accept' in listing
    assert "ct state established,related accept" in listing


def test_ipv6_neighbour_discovery_and_path_mtu_are_allowed(host):
    listing = host.check_output("nft list chain inet kewp_filter input")
    for icmpv6_type in ("nd-neighbor-solicit", "nd-neighbor-advert", "packet-too-big"):
        assert icmpv6_type in listing


def test_new_ssh_connections_are_rate_limited_per_address(host):
    listing = host.check_output("nft list chain inet kewp_filter input")
    limited = [line for line in listing.splitlines() if "tcp dport 22 ct state new" in line]
    assert limited, listing
    assert all("limit rate over 10/minute burst 20 packets" in line and line.strip().endswith(
        'comment "ssh rate limit"') for line in limited)


def test_ssh_rate_limit_tracks_this_machine(host):
    # Ansible and testinfra reached the VPS from the host side of the link: its address is
    # in the meter set (so the rule sees real traffic).
    meter = host.check_output("nft list set inet kewp_filter ssh_clients_v4")
    assert "limit rate over 10/minute" in meter
    assert "elements = {" in meter


def test_forward_chain_drops_traffic_into_containers(host):
    forward = chain(host, "forward")
    assert forward["policy"] == "drop"
    listing = host.check_output("nft list chain inet kewp_filter forward")
    assert 'iifname "docker0" accept' in listing
    # Nothing accepts traffic *to* a container interface: only replies go in.
    assert "oifname" not in listing


def test_docker_tables_survive_a_firewall_restart(host):
    before = set(host.check_output("nft list tables").splitlines())
    assert "table inet kewp_filter" in before
    host.check_output("systemctl restart nftables.service")
    after = set(host.check_output("nft list tables").splitlines())
    assert after == before
    # Docker's NAT for the app port is still there.
    assert "table ip nat" in after


def test_a_container_published_on_all_addresses_stays_unreachable_from_outside(host, deployment):
    # Docker's DNAT would bypass an INPUT-only firewall; the forward chain stops it. The
    # app's own image serves a port published on every address for this test.
    image = host.check_output("docker inspect --format '{{.Config.Image}}' kewp")
    host.run("docker rm --force kewp-fwtest")
    host.check_output(f"docker run --detach --name kewp-fwtest --publish 18080:18080 --entrypoint python3 "
                      f"{image} -m http.server 18080")
    try:
        for _ in range(50):  # the server inside takes a moment
            if host.run("curl -sf -o /dev/null http://127.0.0.1:18080/").rc == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the test container does not serve on the VPS itself")
        assert connect(deployment.address, 18080, timeout=3) != "open"
    finally:
        host.run("docker rm --force kewp-fwtest")


def test_closed_port_is_refused_from_outside(deployment):
    assert connect(deployment.address, 5432) == "refused"


# --- listening sockets -------------------------------------------------------------------


def test_only_ssh_http_and_https_listen_on_public_addresses(host):
    public = {
        (protocol, address, port)
        for protocol, address, port in listening(host)
        if not ipaddress.ip_address(address.strip("[]")).is_loopback
    }
    assert {port for protocol, _, port in public if protocol == "tcp"} <= PUBLIC_TCP_PORTS, public
    assert not [s for s in public if s[0] == "udp"], public


def test_app_port_listens_on_loopback_only(host):
    app_sockets = [(address, port) for protocol, address, port in listening(host) if port in (8000, 8001)]
    assert app_sockets, "nothing listens on port 8000 or 8001 (blue/green): is kewp.service running?"
    assert all(ipaddress.ip_address(address.strip("[]")).is_loopback for address, _ in app_sockets), app_sockets


def test_app_port_is_refused_from_outside(deployment):
    assert connect(deployment.address, 8000) == "refused"
    assert connect(deployment.address, 8001) == "refused"


# --- sshd --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd_settings(host) -> dict[str, str]:
    """The effective sshd settings (`sshd -T`), lower-case keys."""
    settings = {}
    for line in host.check_output("sshd -T").splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    return settings


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("permitemptypasswords", "no"),
        ("pubkeyauthentication", "yes"),
        ("authenticationmethods", "publickey"),
        ("hostbasedauthentication", "no"),
        ("permituserenvironment", "no"),
        ("maxauthtries", "3"),
        ("logingracetime", "30"),
        ("x11forwarding", "no"),
        ("allowtcpforwarding", "no"),
        ("allowagentforwarding", "no"),
        ("port", "22"),
    ],
)
def test_sshd_effective_setting(sshd_settings, setting, expected):
    assert sshd_settings[setting] == expected


def test_root_logs_in_with_a_key_only(sshd_settings):
    # `sshd -T` prints prohibit-password under its old name.
    assert sshd_settings["permitrootlogin"] in ("prohibit-password", "without-password")


def test_sshd_config_is_valid_and_the_drop_in_comes_first(host):
    assert host.run("sshd -t").rc == 0
    drop_in = host.file("/etc/ssh/sshd_config.d/00-kewp-hardening.conf")
    assert drop_in.user == "root"
    assert drop_in.mode == 0o644
    assert sorted(host.file("/etc/ssh/sshd_config.d").listdir())[0] == "00-kewp-hardening.conf"


def test_password_login_is_refused_from_outside(deployment):
    proc = subprocess.run(
        ["ssh", "-F", str(SSH_CONFIG), "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password",
         "-o", "BatchMode=yes", "-o", "ControlPath=none", f"root@{deployment.address}", "true"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert proc.returncode == 255
    assert "Permission denied (publickey)" in proc.stderr


# --- kernel settings and updates ---------------------------------------------------------


def test_sysctl_settings_are_kept_in_a_file(host):
    content = host.file("/etc/sysctl.d/60-kewp-hardening.conf").content_string
    for setting in ("net.ipv4.tcp_syncookies=1", "net.ipv4.conf.all.accept_redirects=0",
                    "net.ipv4.conf.all.send_redirects=0", "net.ipv6.conf.all.accept_redirects=0"):
        assert setting in content.replace(" ", "")
    assert "ip_forward" not in content


def test_security_updates_are_installed_automatically(host):
    periodic = host.check_output("apt-config dump APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    assert host.service("apt-daily-upgrade.timer").is_enabled
