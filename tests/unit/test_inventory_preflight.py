"""playbooks/preflight.yml (the first play of site.yml) on copies of inventory/production.example:
it refuses every value still holding the placeholder, naming each with its file, and an
inventory without an alert channel unless it says so; inventory/local passes. An encrypted vault
without its password, or with the wrong one, fails naming the file and the flag
(plugins/vars/kewp_vault_check.py). No host is
contacted (the checks run on the control node)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
EXAMPLE = REPO / "inventory" / "production.example"
PLACEHOLDERS = {
    "ansible_host": "hosts.yml",
    "nginx_server_name": "group_vars/kewp/vars.yml",
    "nginx_acme_email": "group_vars/kewp/vars.yml",
    "kewp_host_alert_mail_to": "group_vars/kewp/vars.yml",
    "vault_kewp_host_alert_webhook_url": "group_vars/kewp/vault.yml",
    "vault_kewp_app_admin_password": "group_vars/kewp/vault.yml",
    "vault_kewp_app_secret_key": "group_vars/kewp/vault.yml",
    "vault_kewp_backup_offsite_password": "group_vars/kewp/vault.yml",
}

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook is not in this virtualenv")


def preflight(inventory: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(inventory), *extra,
                           str(REPO / "playbooks" / "preflight.yml")],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def production(tmp_path: Path) -> Path:
    """The example copied as the README says, vault.yml from vault.yml.example (not encrypted here)."""
    copy = tmp_path / "production"
    shutil.copytree(EXAMPLE, copy)
    shutil.copy(copy / "group_vars/kewp/vault.yml.example", copy / "group_vars/kewp/vault.yml")
    return copy


def fill_in(inventory: Path, **replace: str) -> None:
    """Replace each CHANGE-ME value in the inventory's files with a real-looking one."""
    for path in [inventory / "hosts.yml", *(inventory / "group_vars/kewp").glob("*.yml")]:
        text = path.read_text()
        for old, new in replace.items():
            text = text.replace(old, new)
        text = re.sub(r"CHANGE-ME[\w.@/:-]*", "kewp.example.net", text)
        path.write_text(text)


def test_the_unedited_example_is_refused_naming_each_placeholder_and_its_file(production: Path) -> None:
    result = preflight(production)
    assert result.returncode == 2, result.stdout
    message = " ".join(result.stdout.split())
    assert f"{len(PLACEHOLDERS)} setting(s) still hold the example's placeholder CHANGE-ME" in message
    for name, file in PLACEHOLDERS.items():
        assert f"{name} in {production}/{file}" in message
    assert "unreachable=0" in result.stdout  # refused on the control node, the host never contacted


def test_a_filled_in_example_passes(production: Path) -> None:
    fill_in(production)
    result = preflight(production)
    assert result.returncode == 0, result.stdout
    assert "failed=0" in result.stdout


def test_no_alert_channel_is_refused_unless_it_is_stated(production: Path) -> None:
    fill_in(production, **{'"https://CHANGE-ME.example.org/hooks/kewp"': '""',
                           "kewp_host_alert_mail_to: CHANGE-ME@example.org": 'kewp_host_alert_mail_to: ""'})
    result = preflight(production)
    assert result.returncode == 2
    assert "alerts reach nobody: set kewp_host_alert_webhook_url or kewp_host_alert_mail_to in the inventory" in \
        " ".join(result.stdout.split())
    vars_file = production / "group_vars/kewp/vars.yml"
    vars_file.write_text(vars_file.read_text().replace("kewp_host_alert_channels_none_ok: false",
                                                       "kewp_host_alert_channels_none_ok: true"))
    assert preflight(production).returncode == 0


def test_the_local_inventory_passes() -> None:
    result = preflight(REPO / "inventory" / "local")
    assert result.returncode == 0, result.stdout


ANSIBLE_VAULT = ANSIBLE_PLAYBOOK.parent / "ansible-vault"


def encrypt(inventory: Path, password_file: Path, password: str) -> Path:
    """The README's step 3: a 0600 password file, then the vault encrypted with it."""
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    vault = inventory / "group_vars/kewp/vault.yml"
    subprocess.run([str(ANSIBLE_VAULT), "encrypt", "--vault-password-file", str(password_file), str(vault)],
                   cwd=REPO, check=True, capture_output=True, timeout=60)
    return vault


def test_an_encrypted_vault_without_a_password_names_the_file_and_the_flag(production: Path, tmp_path: Path) -> None:
    fill_in(production)
    vault = encrypt(production, tmp_path / "vault-pass", "correct horse")
    result = preflight(production)
    assert result.returncode != 0
    message = " ".join((result.stdout + result.stderr).split())
    assert f"{vault} is encrypted with ansible-vault, and no vault password was given: add " \
           "--vault-password-file ~/.kewp-vault-pass" in message


def test_the_wrong_vault_password_names_the_file_and_how_to_test_one(production: Path, tmp_path: Path) -> None:
    fill_in(production)
    vault = encrypt(production, tmp_path / "vault-pass", "correct horse")
    wrong = tmp_path / "other-pass"
    wrong.write_text("battery staple\n")
    result = preflight(production, "--vault-password-file", str(wrong))
    assert result.returncode != 0
    message = " ".join((result.stdout + result.stderr).split())
    assert f"the vault password given does not open {vault}" in message
    assert f"ansible-vault view --vault-password-file ~/.kewp-vault-pass {vault}" in message


def test_the_right_vault_password_opens_it(production: Path, tmp_path: Path) -> None:
    fill_in(production)
    password_file = tmp_path / "vault-pass"
    encrypt(production, password_file, "correct horse")
    result = preflight(production, "--vault-password-file", str(password_file))
    assert result.returncode == 0, result.stdout + result.stderr
