"""Vars plugin: an encrypted vault in the inventory with no (or the wrong) vault password fails
with the file's name and the flag to add, instead of Ansible's bare "no vault secrets found"."""

from __future__ import annotations

from pathlib import Path

from ansible.errors import AnsibleError
from ansible.parsing.vault import AnsibleVaultError, VaultLib
from ansible.plugins.vars import BaseVarsPlugin

DOCUMENTATION = """
    name: kewp_vault_check
    short_description: Names the vault file and the flag when an inventory's vault cannot be opened
    description:
      - Runs before host_group_vars (ansible.cfg vars_plugins_enabled). For each inventory directory, the
        first time it is read, finds the ansible-vault encrypted files under group_vars/ and host_vars/
        and checks that the vault password given opens each of them.
    options:
      stage:
        ini:
          - key: stage
            section: vars_kewp_vault_check
        env:
          - name: ANSIBLE_VARS_PLUGIN_STAGE
    extends_documentation_fragment:
      - vars_plugin_staging
"""

HEADER = b"$ANSIBLE_VAULT;"
CHECKED: set[str] = set()
FLAG = "--vault-password-file ~/.kewp-vault-pass"


def encrypted_files(inventory_dir: Path) -> list[Path]:
    found = []
    for top in ("group_vars", "host_vars"):
        for path in sorted((inventory_dir / top).rglob("*")):
            if path.is_file() and not path.name.startswith(".") and path.suffix in ("", ".yml", ".yaml", ".json"):
                with path.open("rb") as fh:
                    if fh.read(len(HEADER)) == HEADER:
                        found.append(path)
    return found


class VarsModule(BaseVarsPlugin):
    REQUIRES_ENABLED = True
    is_stateless = True

    def get_vars(self, loader, path, entities, cache=True):
        super().get_vars(loader, path, entities)
        if path in CHECKED:
            return {}
        CHECKED.add(path)
        vault_files = encrypted_files(Path(path))
        if not vault_files:
            return {}
        # The CLI hands its --vault-password-file / --ask-vault-pass secrets to the loader.
        secrets = loader._vault.secrets  # DataLoader has no public getter
        names = ", ".join(str(f) for f in vault_files)
        if not secrets:
            raise AnsibleError(
                f"{names} is encrypted with ansible-vault, and no vault password was given: add {FLAG} "
                "(the password file you made when you encrypted it; README, 'Deploying to a real VPS', step 3)")
        vault = VaultLib(secrets)
        for vault_file in vault_files:
            try:
                vault.decrypt(vault_file.read_bytes())
            except AnsibleVaultError:
                raise AnsibleError(
                    f"the vault password given does not open {vault_file}: pass the password "
                    f"file it was encrypted with ({FLAG}); test it with: .venv/bin/ansible-vault view "
                    f"{FLAG} {vault_file}") from None
        return {}
