"""The docs' ansible commands name their inventory and run from .venv/bin (scripts/check_doc_commands.py)."""

from __future__ import annotations

import importlib.util

from .helpers import REPO


def load_checker():
    spec = importlib.util.spec_from_file_location("check_doc_commands", REPO / "scripts" / "check_doc_commands.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_playbook_command_without_inventory_is_reported_with_its_line():
    found = load_checker().problems("Restore:\n```sh\n.venv/bin/ansible-playbook playbooks/restore.yml\n```\n")
    assert [number for number, _ in found] == [3]
    assert "-i INVENTORY" in found[0][1]


def test_a_production_command_without_a_vault_option_is_reported():
    found = load_checker().problems(".venv/bin/ansible-playbook -i inventory/production playbooks/site.yml")
    assert len(found) == 1 and "vault" in found[0][1]


def test_a_command_not_run_from_the_venv_is_reported():
    found = load_checker().problems("`ansible-playbook -i inventory/production playbooks/backup.yml --ask-vault-pass`")
    assert len(found) == 1 and ".venv/bin/ansible-playbook" in found[0][1]


def test_an_ad_hoc_command_needs_an_inventory_too_but_prose_about_ansible_does_not():
    checker = load_checker()
    assert checker.problems("`.venv/bin/ansible kewp -b -m command -a 'kewpctl status'`")
    assert checker.problems("The ansible roles are in roles/; ansible-lint checks them.") == []


def test_explicit_commands_pass():
    checker = load_checker()
    assert checker.problems(".venv/bin/ansible-playbook -i inventory/local playbooks/site.yml") == []
    assert checker.problems(".venv/bin/ansible -i inventory/production kewp -b -m command -a 'kewpctl status' "
                            "--ask-vault-pass") == []
    assert checker.problems(".venv/bin/ansible-playbook -i inventory/production playbooks/deploy.yml "
                            "--vault-password-file ~/.kewp-vault-pass") == []
