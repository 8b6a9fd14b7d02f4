"""check_doc_commands: every `ansible-playbook` and ad-hoc `ansible` command in the docs names its inventory.

ansible.cfg points at inventory/local (the throw-away VPS), so a documented command without
`-i` would, at 3 a.m., restore or roll back the test VPS instead of production. A command for
any other inventory also needs a vault option, or it dies on "no vault secrets found". And each
is run as .venv/bin/TOOL: `make venv` puts nothing on the operator's PATH, so a bare
`ansible-playbook` is "command not found" (tests/deploy/test_production_walkthrough.py runs them).

Usage: python3 scripts/check_doc_commands.py [FILE...]   (default: README.md, docs/, roles/*/README.md)
Exit 0 when every command is explicit, 1 with one line per offending command.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMAND = re.compile(r"(?<![\w-])(?P<tool>ansible-playbook|ansible)(?=\s)(?P<args>(?:\s+[^\s`|;&]+)*)")
AD_HOC = re.compile(r"\s-(?:m|a)\s")  # `ansible HOSTS -m MODULE`; "ansible" in prose has neither
INVENTORY = re.compile(r"(?:^|\s)(?:-i|--inventory)(?:\s+|=)(?P<path>[^\s`]+)")
VAULT = re.compile(r"(?:^|\s)(?:--ask-vault-pass(?:word)?|-J|--vault-password-file|--vault-id)(?:\s|=|$)")
LOCAL_INVENTORY = "inventory/local"
VENV_BIN = ".venv/bin/"


def default_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), *sorted(REPO.glob("roles/*/README.md"))]


def problems(text: str) -> list[tuple[int, str]]:
    """(line number, what is wrong) for each ansible command in a Markdown text."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in COMMAND.finditer(line):
            tool, args = match.group("tool"), match.group("args")
            if tool == "ansible" and not AD_HOC.search(args + " "):
                continue
            if not args.strip() or args.strip().startswith("..."):
                found.append((number, f"{tool}: names no playbook: write the whole command, with -i"))
                continue
            if not line[:match.start()].endswith(VENV_BIN):
                found.append((number, f"{tool}: write {VENV_BIN}{tool} (`make venv` puts nothing on PATH)"))
            inventory = INVENTORY.search(args)
            if not inventory:
                found.append((number, f"{tool}: has no -i INVENTORY (ansible.cfg would send it to the local test VPS)"))
            elif inventory.group("path").rstrip("/") != LOCAL_INVENTORY and not VAULT.search(args):
                found.append((number, f"{tool}: names a production inventory but no vault option "
                                      "(--vault-password-file FILE or --ask-vault-pass)"))
    return found


def main(argv: list[str] | None = None) -> int:
    files = [Path(name) for name in (argv if argv is not None else sys.argv[1:])] or default_files()
    status = 0
    for path in files:
        for number, message in problems(path.read_text(encoding="utf-8")):
            shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
            print(f"{shown}:{number}: {message}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
