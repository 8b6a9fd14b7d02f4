"""The backup_host role on its own local VPS: it converges, changes nothing the second time, and
an account can do SFTP inside its chroot and nothing else (no shell, no password, no forwarding,
no way out of its directory).

Runs without the app VPS (site.yml limited to the backup VPS, with a test key as the account's).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import REUSE_VPS
from .offsite import BACKUP_ADDRESS, SftpAccount, backup_root_ssh, backup_vps, converge_backup_host

pytestmark = pytest.mark.deploy

ACCOUNT = "kewp-test"
OTHER = "kewp-other"


@pytest.fixture(scope="module")
def accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SftpAccount]]:
    """A fresh backup VPS converged twice with two accounts (test keys); torn down at the end."""
    work = tmp_path_factory.mktemp("backup-host")
    keys = {}
    for name in (ACCOUNT, OTHER):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(work / name)], check=True)
        keys[name] = (work / f"{name}.pub").read_text().strip()
    reuse = REUSE_VPS and backup_vps("status").returncode == 0
    if not reuse:
        backup_vps("down")
        up = backup_vps("up")
        assert up.returncode == 0, up.stdout + up.stderr
    specs = [{"name": name, "public_keys": [key]} for name, key in keys.items()]
    first = converge_backup_host("backup-host-1", specs)
    assert first.returncode == 0, f"converge failed (log {first.log}):\n{first.tail()}"
    second = converge_backup_host("backup-host-2", specs)
    assert second.returncode == 0, f"second converge failed (log {second.log}):\n{second.tail()}"
    assert second.total("changed") == 0, f"not idempotent: {second.changed_tasks()} (log {second.log})"
    host_key = backup_root_ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    (work / "known_hosts").write_text(f"{BACKUP_ADDRESS} {' '.join(host_key)}\n")
    yield {name: SftpAccount(name, work / name, work / "known_hosts") for name in keys}
    if not REUSE_VPS:
        backup_vps("down")


def test_an_account_can_write_and_read_its_own_directories(accounts: dict[str, SftpAccount]) -> None:
    (Path(accounts[ACCOUNT].key).parent / "payload").write_text("replica bytes\n")
    payload = Path(accounts[ACCOUNT].key).parent / "payload"
    result = accounts[ACCOUNT].sftp(f"put {payload} /litestream/probe\nput {payload} /restic/probe\n"
                                    "ls /litestream\nrm /litestream/probe\nrm /restic/probe\n")
    assert result.returncode == 0, result.stderr
    assert "/litestream/probe" in result.stdout


def test_the_chroot_is_the_accounts_whole_world(accounts: dict[str, SftpAccount]) -> None:
    result = accounts[ACCOUNT].sftp("pwd\nls -a /\n-cd /etc\n-get /etc/passwd\n-ls /..\n-put /etc/hostname /x\n")
    assert result.returncode == 0, result.stderr
    assert "Remote working directory: /" in result.stdout
    listing = result.stdout.split("ls -a /", 1)[1]
    assert "litestream" in listing and "restic" in listing
    assert "etc" not in listing.split("cd /etc", 1)[0]  # no /etc, /home or other accounts inside
    assert OTHER not in result.stdout
    assert "No such file or directory" in result.stderr  # /etc (cd, get) does not exist here
    assert "Permission denied" in result.stderr  # "/" is root's: nothing can be written there


def test_an_account_cannot_reach_another_accounts_files(accounts: dict[str, SftpAccount]) -> None:
    backup_root_ssh(f"install -o {OTHER} -g kewp-backup -m 0600 /dev/null /srv/kewp-backup/{OTHER}/litestream/secret")
    result = accounts[ACCOUNT].sftp(f"-get /srv/kewp-backup/{OTHER}/litestream/secret\n"
                                    f"-get ../{OTHER}/litestream/secret\n")
    assert result.stderr.count("not found") + result.stderr.count("No such file") >= 2, result.stderr


def test_an_account_gets_no_shell_no_command_and_no_forwarding(accounts: dict[str, SftpAccount]) -> None:
    account = accounts[ACCOUNT]
    command = account.ssh("id")
    assert command.returncode != 0 and "uid=" not in command.stdout, command.stdout
    tty = account.ssh("-tt")
    assert "uid=" not in tty.stdout and "$ " not in tty.stdout
    effective = backup_root_ssh(f"sshd -T -C user={ACCOUNT},host=app,addr=10.0.0.9")
    for setting in ("forcecommand internal-sftp", "chrootdirectory /srv/kewp-backup/%u",
                    "allowtcpforwarding no", "allowagentforwarding no", "x11forwarding no", "permittty no",
                    "permittunnel no", "passwordauthentication no", "authenticationmethods publickey",
                    "authorizedkeysfile /etc/ssh/kewp-backup-keys/%u"):
        assert setting in effective.splitlines(), f"{setting!r} missing from sshd -T:\n{effective}"
    # The server must refuse a remote forward outright (a local -L only fails once used).
    forward = account.ssh("-N", "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:22222:127.0.0.1:22")
    assert forward.returncode != 0 and "forwarding failed" in forward.stderr, forward.stderr


def test_only_the_accounts_own_key_opens_it(accounts: dict[str, SftpAccount]) -> None:
    wrong_key = SftpAccount(ACCOUNT, accounts[OTHER].key, accounts[ACCOUNT].known_hosts)
    result = wrong_key.sftp("ls /\n")
    assert result.returncode != 0 and "Permission denied" in result.stderr, result.stderr
    password = accounts[ACCOUNT].ssh("-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password")
    assert password.returncode != 0


def test_the_accounts_keys_and_chroots_are_roots(accounts: dict[str, SftpAccount]) -> None:
    listing = backup_root_ssh(f"stat -c '%U %a %n' /srv/kewp-backup /srv/kewp-backup/{ACCOUNT} "
                              f"/srv/kewp-backup/{ACCOUNT}/litestream /etc/ssh/kewp-backup-keys/{ACCOUNT}")
    assert listing.split("\n")[:4] == [
        "root 755 /srv/kewp-backup", f"root 755 /srv/kewp-backup/{ACCOUNT}",
        f"{ACCOUNT} 700 /srv/kewp-backup/{ACCOUNT}/litestream", f"root 644 /etc/ssh/kewp-backup-keys/{ACCOUNT}"]
    shell = backup_root_ssh(f"getent passwd {ACCOUNT}").strip().split(":")[-1]
    assert shell == "/usr/sbin/nologin"
