"""Moving SSH to another port without locking anyone out (roles/hardening/README.md).

On the converged local VPS, with `--tags hardening` runs of site.yml (`-e` for the settings):
1. a new port that something in between refuses (a test table on the VPS resets it): the run
   stops saying so, and port 22 still lets us in;
2. `hardening_ssh_port: 2222` with `ansible_port` still 22: sshd listens on both, the run
   logged in over 2222 and says how to go on;
3. `ansible_port: 2222` too: port 22 is closed, 2222 lets us in;
4. back the same way (22 with ansible_port 2222, then the inventory as it is): the VPS ends on 22.
Each login check is a new ssh connection from this machine (no shared control connection).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from .conftest import SSH_CONFIG, PlaybookRun

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("ssh", "nftables")

NEW_PORT = 2222
BLOCKED_PORT = 2223
# A separate table, evaluated before kewp_filter, that the role's firewall reload leaves alone.
BLOCK_TABLE = "inet kewp_test_block"


def ssh_login(address: str, port: int) -> subprocess.CompletedProcess:
    """A fresh ssh login from this machine on `port` that prints the ports sshd listens on."""
    return subprocess.run(
        ["ssh", "-F", str(SSH_CONFIG), "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=10",
         "-p", str(port), f"root@{address}", "sshd -T | sed -n 's/^port //p' | sort -n | tr '\\n' ' '"],
        capture_output=True, text=True, timeout=60, check=False,
    )


def hardening(site_playbook: Callable[..., PlaybookRun], label: str, **extra_vars: int) -> PlaybookRun:
    args = ["--tags", "hardening"] + (["-e", json.dumps(extra_vars)] if extra_vars else [])
    return site_playbook(*args, label=label)


@dataclass
class Moves:
    blocked: PlaybookRun
    blocked_logins: dict[int, subprocess.CompletedProcess]
    both: PlaybookRun
    both_logins: dict[int, subprocess.CompletedProcess]
    moved: PlaybookRun
    moved_logins: dict[int, subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def moves(host, deployment, site_playbook: Callable[..., PlaybookRun]) -> Iterator[Moves]:
    address = deployment.address
    host.check_output(f"nft add table {BLOCK_TABLE} && nft add chain {BLOCK_TABLE} input "
                      "'{ type filter hook input priority -10; }' "
                      f"&& nft add rule {BLOCK_TABLE} input tcp dport {BLOCKED_PORT} reject with tcp reset")
    back = None
    try:
        blocked = hardening(site_playbook, "ssh-port-blocked", hardening_ssh_port=BLOCKED_PORT)
        blocked_logins = {port: ssh_login(address, port) for port in (22, BLOCKED_PORT)}
        host.check_output(f"nft delete table {BLOCK_TABLE}")
        both = hardening(site_playbook, "ssh-port-both", hardening_ssh_port=NEW_PORT)
        both_logins = {port: ssh_login(address, port) for port in (22, NEW_PORT)}
        moved = hardening(site_playbook, "ssh-port-moved", hardening_ssh_port=NEW_PORT, ansible_port=NEW_PORT)
        moved_logins = {port: ssh_login(address, port) for port in (22, NEW_PORT)}
        yield Moves(blocked, blocked_logins, both, both_logins, moved, moved_logins)
    finally:
        subprocess.run(["ssh", "-F", str(SSH_CONFIG), f"root@{address}", f"nft delete table {BLOCK_TABLE}"],
                       capture_output=True, timeout=60, check=False)
        # Back the documented way; which port Ansible can use depends on how far the moves got.
        port = NEW_PORT if ssh_login(address, 22).returncode != 0 else 22
        back = hardening(site_playbook, "ssh-port-back-both", hardening_ssh_port=22, ansible_port=port)
        last = hardening(site_playbook, "ssh-port-back")
        assert back.returncode == 0, back.tail()
        assert last.returncode == 0, last.tail()
        assert ssh_login(address, 22).stdout.strip() == "22"


def test_a_new_port_that_does_not_let_ansible_in_stops_the_run(moves):
    assert moves.blocked.returncode != 0
    assert f"sshd listens on port {BLOCKED_PORT}" in moves.blocked.output
    assert "Port 22 stays open: nobody is locked out." in moves.blocked.output


def test_the_old_port_still_lets_us_in_after_the_refused_move(moves):
    login = moves.blocked_logins[22]
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == ["22", str(BLOCKED_PORT)]
    assert moves.blocked_logins[BLOCKED_PORT].returncode != 0


def test_first_run_listens_on_both_ports_and_logs_in_over_the_new_one(moves):
    assert moves.both.returncode == 0, moves.both.tail()
    assert "TASK [hardening : Log in over the new SSH port from the control node" in moves.both.output
    assert f"set ansible_port: {NEW_PORT}" in moves.both.output
    for port in (22, NEW_PORT):
        login = moves.both_logins[port]
        assert login.returncode == 0, f"port {port}: {login.stderr}"
        assert login.stdout.split() == ["22", str(NEW_PORT)]


def test_second_run_with_the_new_ansible_port_closes_the_old_one(moves):
    assert moves.moved.returncode == 0, moves.moved.tail()
    assert "Log in over the new SSH port" not in moves.moved.output
    assert moves.moved_logins[22].returncode != 0
    login = moves.moved_logins[NEW_PORT]
    assert login.returncode == 0, login.stderr
    assert login.stdout.split() == [str(NEW_PORT)]
