"""README's "Deploying to a real VPS", walked literally, on a fresh local VPS of this suite's own.

The fenced sh block of that README section is read at test time and its lines are run in
order with bash, as an operator would type them: in a terminal (a pty, so `--ask-vault-pass`
prompts and is answered), from a scratch copy of the repository (symlinks to its top-level
entries, `.venv` included, and an inventory/ of its own, so inventory/production is never
made in the repository), with HOME a scratch directory (so ~/.kewp-vault-pass is this
test's) and a plain PATH (so a documented bare `ansible-playbook` fails as it would for the
operator). Only each `$EDITOR ...` line is replaced, by a fill-in that sets every CHANGE-ME
of the files it names the way an operator would: the VPS's address, the site's name, the
e-mails, the alert webhook (a real receiver on this machine's end of the VPS link) and the
secrets. SSH to the VPS comes from the environment (ANSIBLE_PRIVATE_KEY_FILE, ANSIBLE_SSH_ARGS)
as an operator's ssh set-up would, never from the docs' commands.

TLS: no public ACME server is reachable, so the example's ACME server setting points at Pebble
(tests/deploy/pebble.py) and its listener's CA is put on the VPS; the converge gets a real
certificate that verifies against Pebble's root.

Then, as written in the docs (found by their section and a distinguishing text, so a change
there changes what runs): docs/oncall.md's `kewpctl status` on the VPS (exit 0 right after the
first converge) and from the control node, `kewpctl alert-test` (the receiver gets it);
docs/operations.md's backup, restore and deploy. Also: right after the vault is encrypted, the
converge line without its --vault-password-file fails naming the vault file and the flag
(plugins/vars/kewp_vault_check.py), before any task. None of it reaches the other local VPS:
its address (inventory/local, KEWP_VPS_SUBNET) appears in no output, and the production
inventory lists only this suite's VPS. Last, README's converge line again: changed=0.

Environment: KEWP_WALK_VPS_NAME / KEWP_WALK_VPS_SUBNET (kewp-walk, 10.238.0.0/24) name this
suite's VPS; KEWP_REUSE_VPS=1 keeps it for the next run, KEWP_KEEP_VPS=1 leaves it up.
Output: build/deploy-tests/walkthrough.log (every command and its output), timings in the summary.
"""

from __future__ import annotations

import json
import os
import pty
import re
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import testinfra
import yaml
from testinfra.host import Host

from .conftest import LOCAL_VPS, LOG_DIR, REPO, REUSE_VPS, SSH_CONFIG, SSH_KEY, PlaybookRun, link_ip, summary_lines
from .pebble import VPS_CA_BUNDLE, issuing_root, running_pebble, trust_listener_ca
from .webhook import Receiver, webhook_receiver

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp", "nginx", "certbot", "kewp-backup", "kewp-alert@*")

WALK_NAME = os.environ.get("KEWP_WALK_VPS_NAME", "kewp-walk")
WALK_SUBNET = os.environ.get("KEWP_WALK_VPS_SUBNET", "10.238.0.0/24")
WALK_ADDRESS = WALK_SUBNET.removesuffix(".0/24") + ".2"
# The other local VPS: the one inventory/local points at (the shared converge's).
SHARED_ADDRESS = os.environ.get("KEWP_VPS_SUBNET", "10.232.0.0/24").removesuffix(".0/24") + ".2"
SERVER_NAME = "kewp-walk.test"
RECEIVER_PORT = 18097
SECTION = "## Deploying to a real VPS"
VAULT_FLAG = re.compile(r"\s--vault-password-file(?:=|\s+)\S+")
COMMAND_TIMEOUT = 45 * 60
# An operator's shell: no .venv/bin on PATH (README's `make venv` puts nothing there).
OPERATOR_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

LOG = LOG_DIR / "walkthrough.log"
timings: dict[str, float] = {}
# (command, output) of everything run, on the control node and on the VPS.
outputs: list[tuple[str, str]] = []


# ---------------------------------------------------------------- the docs' commands

def section(path: Path, heading: str) -> str:
    """The text of a Markdown section: from its heading to the next heading of its level or above."""
    text = path.read_text(encoding="utf-8")
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    if heading not in lines:
        pytest.fail(f"{path.relative_to(REPO)} has no section {heading!r} (the walkthrough follows it)")
    start = end = lines.index(heading) + 1
    fenced = False
    for end in range(start, len(lines) + 1):
        if end == len(lines) or (not fenced and re.match(rf"^#{{1,{level}}} ", lines[end])):
            break
        fenced ^= lines[end].startswith("```")
    return "\n".join(lines[start:end])


def sh_commands(text: str) -> list[str]:
    """The commands of the ```sh blocks in `text`: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        pending = ""
        for line in block.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1].rstrip() + " "
                continue
            commands.append(re.sub(r"\s+#\s.*$", "", pending + line.strip()))
            pending = ""
    return commands


def doc_command(path: Path, heading: str, pattern: str) -> str:
    """The one command in the sh blocks of that section that matches the regular expression `pattern`."""
    found = [c for c in sh_commands(section(path, heading)) if re.search(pattern, c)]
    assert len(found) == 1, (f"{path.relative_to(REPO)}, {heading!r}: expected one command matching {pattern!r} "
                             f"in its sh blocks, found {found}")
    return found[0]


def inline_command(path: Path, heading: str, starts: str) -> str:
    """The one `code span` in that section's prose that starts with `starts`."""
    found = [span for span in re.findall(r"`([^`\n]+)`", section(path, heading)) if span.startswith(starts)]
    assert len(found) == 1, f"{path.relative_to(REPO)}, {heading!r}: expected one `{starts}...`, found {found}"
    return found[0]


README = REPO / "README.md"
OPERATIONS = REPO / "docs" / "operations.md"
ONCALL = REPO / "docs" / "oncall.md"
STATUS_SECTION = "## Start here: kewpctl status"


# ---------------------------------------------------------------- the operator

@dataclass
class Operator:
    """The control node as the README's operator has it: the checkout, HOME and a terminal."""

    checkout: Path
    home: Path
    env: dict[str, str]
    repo_had_production: bool
    runs: list[PlaybookRun] = field(default_factory=list)

    def vault_password(self) -> str:
        # What the operator types at --ask-vault-pass: the password kept in the file (and manager).
        return (self.home / ".kewp-vault-pass").read_text().strip()

    def run(self, command: str, label: str) -> PlaybookRun:
        """`command` with bash in a terminal at the checkout, answering vault password prompts."""
        start = time.monotonic()
        returncode, output = in_terminal(command, self.checkout, self.env, self.vault_password)
        run = PlaybookRun([command], returncode, output, time.monotonic() - start, LOG)
        self.runs.append(run)
        outputs.append((command, output))
        timings[label] = run.seconds
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with LOG.open("a") as log:
            log.write(f"\n===== {label}\n$ {command}\n{output}\n[exit {returncode}, {run.seconds:.1f} s]\n")
        return run


def in_terminal(command: str, cwd: Path, env: dict[str, str], password) -> tuple[int, str]:
    """Run `bash -c command` on a new pty (its controlling terminal); each 'Vault password' prompt
    gets password() typed in. Returns the exit code and what the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its terminal
        try:
            os.chdir(cwd)
            os.execve("/bin/bash", ["bash", "-c", command], env)
        finally:
            os._exit(127)
    shown, answered = b"", 0
    deadline = time.monotonic() + COMMAND_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child and everything on the terminal has gone
                break
            if not chunk:
                break
            shown += chunk
            if shown.count(b"Vault password") > answered:
                answered += 1
                os.write(fd, password().encode() + b"\n")
        else:
            os.kill(pid, signal.SIGKILL)
            shown += f"\n[killed after {COMMAND_TIMEOUT} s]".encode()
    finally:
        # Reap first: closing the terminal while the child is still exiting would SIGHUP it.
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace").replace("\r\n", "\n")


def scratch_checkout(root: Path) -> Path:
    """The repository as the operator's clone: symlinks to its top-level entries (build/ made first,
    so the wheelhouse is shared), inventory/ a copy. Not .git (git would see the symlinks as
    changes; the image's revision label is then 'unknown'), not inventory/local: a command
    without -i then fails instead of reaching the other local VPS."""
    checkout = root / "kewp"
    checkout.mkdir()
    (REPO / "build").mkdir(exist_ok=True)
    for entry in REPO.iterdir():
        if entry.name not in (".git", "inventory"):
            (checkout / entry.name).symlink_to(entry)
    shutil.copytree(REPO / "inventory", checkout / "inventory", symlinks=True,
                    ignore=lambda directory, names: ["local"] if Path(directory) == REPO / "inventory" else [])
    return checkout


# ---------------------------------------------------------------- the $EDITOR lines

@dataclass
class FillIn:
    """What the operator types into the example's files."""

    answers: dict[str, object]     # each CHANGE-ME setting
    overrides: dict[str, object]   # settings the example has with another value (must exist)
    additions: dict[str, object]   # settings the example lacks, added to vars.yml
    done: set[str] = field(default_factory=set)

    def edit(self, path: Path) -> None:
        lines = []
        for line in path.read_text().splitlines():
            setting = re.match(r"^(\s*)([A-Za-z_]\w*):\s*(.*)$", line)
            if not setting or line.lstrip().startswith("#"):
                lines.append(line)
                continue
            indent, name, value = setting.groups()
            if "CHANGE-ME" in value:
                assert name in self.answers, (
                    f"{path.name}: {name} is a new CHANGE-ME setting of the example; the walkthrough "
                    "does not know what an operator puts there (add it to its answers)")
                lines.append(f"{indent}{name}: {json.dumps(self.answers[name])}")
                self.done.add(name)
            elif name in self.overrides:
                lines.append(f"{indent}{name}: {json.dumps(self.overrides[name])}")
                self.done.add(name)
            else:
                lines.append(line)
        if path.name == "vars.yml" and self.additions:
            lines.append("# Test-only: certbot trusts Pebble's own HTTPS listener (tests/deploy/pebble.py).")
            lines += [f"{name}: {json.dumps(value)}" for name, value in self.additions.items()]
        path.write_text("\n".join(lines) + "\n")
        yaml.safe_load(path.read_text())  # still YAML
        left = [line for line in path.read_text().splitlines()
                if "CHANGE-ME" in line and not line.lstrip().startswith("#")]
        assert not left, f"{path}: CHANGE-ME left after the fill-in: {left}"


# ---------------------------------------------------------------- fixtures

def walk_vps(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KEWP_VPS_NAME": WALK_NAME, "KEWP_VPS_SUBNET": WALK_SUBNET}
    env.pop("KEWP_VPS_PEERS", None)
    return subprocess.run([str(LOCAL_VPS), *args], cwd=REPO, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def host() -> Iterator[Host]:
    """A fresh local VPS for this module only, as root over ssh. It overrides conftest's `host` (the
    session's shared VPS, never used here), so a failing test gets this VPS's journal."""
    if os.geteuid() != 0:
        pytest.fail("the deploy tests need root (scripts/local-vps): run them with sudo")
    assert WALK_ADDRESS != SHARED_ADDRESS, "KEWP_WALK_VPS_SUBNET must differ from KEWP_VPS_SUBNET"
    LOG.parent.mkdir(parents=True, exist_ok=True)
    LOG.write_text("")
    if not (REUSE_VPS and walk_vps("status").returncode == 0):
        walk_vps("down")
        start = time.monotonic()
        up = walk_vps("up")
        assert up.returncode == 0, f"scripts/local-vps up ({WALK_NAME}) failed:\n{up.stdout}{up.stderr}"
        timings["local-vps up"] = time.monotonic() - start
    try:
        yield testinfra.get_host(f"ssh://root@{WALK_ADDRESS}", ssh_config=str(SSH_CONFIG),
                                 ssh_identity_file=str(SSH_KEY))
    finally:
        summary_lines.append("walkthrough timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        if not REUSE_VPS and os.environ.get("KEWP_KEEP_VPS") != "1":
            walk_vps("down")


@pytest.fixture(scope="module")
def pebble(host: Host, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    with running_pebble(WALK_ADDRESS, tmp_path_factory.mktemp("walk-pebble"),
                        LOG_DIR / "walkthrough-pebble.log") as started:
        yield started


@pytest.fixture(scope="module")
def receiver(host: Host) -> Iterator[Receiver]:
    with webhook_receiver(WALK_ADDRESS, RECEIVER_PORT) as started:
        yield started


@pytest.fixture(scope="module")
def operator(host: Host, tmp_path_factory) -> Operator:
    root = tmp_path_factory.mktemp("walk")
    home = root / "home"
    home.mkdir(mode=0o700)
    env = {
        "PATH": OPERATOR_PATH, "HOME": str(home), "USER": "root", "LOGNAME": "root", "SHELL": "/bin/bash",
        "LANG": "C.UTF-8", "TERM": "dumb",
        # The operator's ssh set-up for this VPS (their agent and ~/.ssh/config would do the same).
        "ANSIBLE_PRIVATE_KEY_FILE": str(SSH_KEY),
        "ANSIBLE_SSH_ARGS": f"-F {SSH_CONFIG} -o ControlMaster=auto -o ControlPersist=60s",
        "ANSIBLE_NOCOLOR": "1",
    }
    return Operator(scratch_checkout(root), home, env, (REPO / "inventory" / "production").exists())


@dataclass
class Walk:
    """What the README's block and the commands right after the first converge did."""

    steps: list[tuple[str, PlaybookRun]]
    guard: PlaybookRun
    converge: PlaybookRun
    status: tuple[int, str]
    status_from_control_node: PlaybookRun
    alert_test: tuple[int, str]
    posts_before_alert_test: list[dict]
    fill_in: FillIn


@pytest.fixture(scope="module")
def walk(host: Host, operator: Operator, pebble, receiver: Receiver) -> Walk:
    directory_url, ca_cert = pebble
    # The stand-in for a public ACME server's trust: certbot on the VPS trusts Pebble's listener.
    trust_listener_ca(host, ca_cert)
    fill_in = FillIn(
        answers={
            "ansible_host": WALK_ADDRESS,
            "nginx_server_name": SERVER_NAME,
            "nginx_acme_email": f"ops@{SERVER_NAME}",
            "kewp_host_alert_mail_to": "",  # the webhook only: no mail server on this link
            "vault_kewp_app_secret_key": secrets.token_urlsafe(48),
            "vault_kewp_app_admin_password": secrets.token_urlsafe(18),
            "vault_kewp_host_alert_webhook_url": receiver.url,
            "vault_kewp_backup_offsite_password": secrets.token_urlsafe(36),
        },
        overrides={"nginx_acme_directory_url": directory_url},
        additions={"nginx_acme_environment": {"REQUESTS_CA_BUNDLE": VPS_CA_BUNDLE}},
    )
    commands = sh_commands(section(README, SECTION))
    converge_line = next((c for c in commands if "playbooks/site.yml" in c), None)
    assert converge_line, f"README {SECTION!r}: no site.yml line"
    assert VAULT_FLAG.search(converge_line), f"README's converge line has no --vault-password-file: {converge_line}"
    steps: list[tuple[str, PlaybookRun]] = []
    guard = converge = status_ctl = None
    status = alert = (None, "")
    posts_before: list[dict] = []
    for number, command in enumerate(commands, start=1):
        playbook = re.search(r"playbooks/\S+", command)
        label = f"README {number}" + (f" ({playbook[0]})" if playbook else "")
        if command.startswith("$EDITOR "):
            start = time.monotonic()
            for name in shlex.split(command)[1:]:
                fill_in.edit(operator.checkout / name)
            run = PlaybookRun([command], 0, "(filled in by the test)", time.monotonic() - start, LOG)
        else:
            run = operator.run(command, label)
        steps.append((command, run))
        if run.returncode != 0:
            pytest.fail(f"{label} failed (exit {run.returncode}): {command}\n{run.tail()}\n(log {LOG})")
        if "ansible-vault encrypt" in command:
            guard = operator.run(VAULT_FLAG.sub("", converge_line), "vault guard")
        if command == converge_line and converge is None:
            converge = run
            status = vps_command(host, doc_command(ONCALL, STATUS_SECTION, r"^kewpctl status$"), "kewpctl status")
            status_ctl = operator.run(inline_command(ONCALL, STATUS_SECTION, ".venv/bin/ansible "),
                                      "status from the control node")
            posts_before = list(receiver.posts)
            alert = vps_command(host, doc_command(ONCALL, "## Alerts", r"^kewpctl alert-test$"), "kewpctl alert-test")
    assert guard is not None, "README's block never encrypts the vault (no `ansible-vault encrypt` line)"
    return Walk(steps, guard, converge, status, status_ctl, alert, posts_before, fill_in)


def vps_command(host: Host, command: str, label: str) -> tuple[int, str]:
    """A documented command run on the VPS as root (the operator's ssh session)."""
    start = time.monotonic()
    result = host.run(command)
    timings[label] = time.monotonic() - start
    outputs.append((f"{command} (on the VPS)", result.stdout + result.stderr))
    with LOG.open("a") as log:
        log.write(f"\n===== on the VPS\n# {command}\n{result.stdout}{result.stderr}\n[exit {result.rc}]\n")
    return result.rc, result.stdout + result.stderr


def backups(host: Host) -> list[dict]:
    return json.loads(host.check_output("kewp-backup list --json"))


@dataclass
class Operations:
    backups_before: int
    backup: PlaybookRun
    backups_after: int
    restore: PlaybookRun
    deploy: PlaybookRun


@pytest.fixture(scope="module")
def operations(walk: Walk, host: Host, operator: Operator) -> Operations:
    """docs/operations.md's backup, restore and deploy, as written, from the control node."""
    before = len(backups(host))
    backup = operator.run(doc_command(OPERATIONS, "### Take a backup now", r"playbooks/backup\.yml"), "backup.yml")
    after = len(backups(host))
    # The newest good backup: the line without -e kewp_backup_restore_file.
    restore = operator.run(doc_command(OPERATIONS, "### Restore", r"playbooks/restore\.yml --ask-vault-pass$"),
                           "restore.yml")
    releases = "## Releases without downtime (blue/green)"
    deploy = operator.run(doc_command(OPERATIONS, releases, r"playbooks/deploy\.yml"), "deploy.yml (operations.md)")
    return Operations(before, backup, after, restore, deploy)


@pytest.fixture(scope="module")
def site_ca(pebble, tmp_path_factory) -> Path:
    """Pebble's issuing root (new on every Pebble start): what a browser's trust store is for Let's Encrypt."""
    directory_url, ca_cert = pebble
    root = tmp_path_factory.mktemp("walk-root") / "pebble-root.pem"
    root.write_text(issuing_root(directory_url, ca_cert))
    return root


def https(site_ca: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """curl to the site by its name, verifying its certificate against Pebble's issuing root."""
    return subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", str(site_ca),
                           "--resolve", f"{SERVER_NAME}:443:{WALK_ADDRESS}", *args],
                          capture_output=True, text=True, timeout=30, check=False)


# ---------------------------------------------------------------- the README's block

def test_every_readme_step_ran_and_succeeded(walk: Walk):
    commands = [command for command, _ in walk.steps]
    assert commands == sh_commands(section(README, SECTION))
    assert all(run.returncode == 0 for _, run in walk.steps)
    assert walk.fill_in.done == set(walk.fill_in.answers) | set(walk.fill_in.overrides)
    checks = [run for command, run in walk.steps if "ansible-inventory" in command]
    assert checks and all("vault ok" in run.output for run in checks)


def test_vault_guard_names_the_vault_file_and_the_flag_before_any_task(walk: Walk):
    assert walk.guard.returncode != 0, walk.guard.tail()
    message = " ".join(walk.guard.output.split())
    assert "inventory/production/group_vars/kewp/vault.yml is encrypted with ansible-vault" in message, message
    assert "add --vault-password-file ~/.kewp-vault-pass" in message, message
    assert "TASK [" not in walk.guard.output


def test_first_converge_succeeds_without_failures(walk: Walk):
    assert walk.converge.returncode == 0, walk.converge.tail()
    assert walk.converge.total("failed") == 0
    assert walk.converge.total("unreachable") == 0
    assert set(walk.converge.recap) == {"kewp-prod-1"}


def test_kewpctl_status_is_ok_right_after_the_first_converge(walk: Walk):
    rc, screen = walk.status
    assert rc == 0, screen


def test_kewpctl_status_from_the_control_node_is_ok(walk: Walk):
    run = walk.status_from_control_node
    assert run.returncode == 0, run.tail()
    assert "kewp-prod-1 | CHANGED | rc=0" in run.output


def test_first_converge_raised_no_alert(walk: Walk):
    assert walk.posts_before_alert_test == []


def test_alert_test_reaches_the_webhook_receiver(walk: Walk, receiver: Receiver):
    rc, output = walk.alert_test
    assert rc == 0, output
    assert f"sent: webhook {link_ip(WALK_ADDRESS)}" in output
    tests = [post for post in receiver.posts if post.get("unit") == "alert-test"]
    assert len(tests) == 1, receiver.posts
    assert tests[0]["text"].startswith("TEST kewp:")


def test_site_serves_a_certificate_from_the_acme_server_that_verifies(walk: Walk, site_ca: Path):
    # (/readyz is for the loopback only: nginx answers it 404 from outside.)
    reply = https(site_ca, "-o", "/dev/null", "-w", "%{http_code} %{ssl_verify_result}", f"https://{SERVER_NAME}/")
    assert reply.stdout == "200 0", reply.stdout + reply.stderr


def test_admin_signs_in_with_the_vault_password(walk: Walk, site_ca: Path, tmp_path):
    jar = str(tmp_path / "cookies")
    page = https(site_ca, "-c", jar, "-b", jar, f"https://{SERVER_NAME}/login")
    token = CSRF.search(page.stdout)
    assert token, page.stdout[:500] + page.stderr
    signed_in = https(site_ca, "-c", jar, "-b", jar, "-o", "/dev/null", "-w", "%{http_code}",
                      "--referer", f"https://{SERVER_NAME}/login",
                      "--data-urlencode", "username=admin",
                      "--data-urlencode", f"password={walk.fill_in.answers['vault_kewp_app_admin_password']}",
                      "--data-urlencode", f"csrf_token={token[1]}", f"https://{SERVER_NAME}/login")
    assert signed_in.stdout in ("302", "303"), signed_in.stdout + signed_in.stderr


def test_readme_deploy_line_succeeds(walk: Walk):
    deploys = [run for command, run in walk.steps if "playbooks/deploy.yml" in command]
    assert len(deploys) == 1
    assert deploys[0].returncode == 0, deploys[0].tail()


# ---------------------------------------------------------------- the operations docs

def test_documented_backup_takes_a_backup(operations: Operations):
    assert operations.backup.returncode == 0, operations.backup.tail()
    assert operations.backups_after == operations.backups_before + 1


def test_documented_restore_restores_and_the_site_serves(operations: Operations, site_ca: Path):
    assert operations.restore.returncode == 0, operations.restore.tail()
    assert operations.restore.total("failed") == 0
    reply = https(site_ca, "-o", "/dev/null", "-w", "%{http_code}", f"https://{SERVER_NAME}/")
    assert reply.stdout == "200", reply.stdout + reply.stderr


def test_documented_deploy_succeeds(operations: Operations):
    assert operations.deploy.returncode == 0, operations.deploy.tail()
    assert operations.deploy.total("failed") == 0


def test_kewpctl_status_is_ok_after_the_operations(operations: Operations, host: Host):
    rc, screen = vps_command(host, doc_command(ONCALL, STATUS_SECTION, r"^kewpctl status$"), "kewpctl status again")
    assert rc == 0, screen


# ---------------------------------------------------------------- only this VPS

def test_production_inventory_holds_only_the_walkthrough_vps(walk: Walk, operator: Operator):
    listed = subprocess.run(
        [".venv/bin/ansible-inventory", "-i", "inventory/production", "--list",
         "--vault-password-file", str(operator.home / ".kewp-vault-pass")],
        cwd=operator.checkout, env=operator.env, capture_output=True, text=True, check=True)
    inventory = json.loads(listed.stdout)
    hostvars = inventory["_meta"]["hostvars"]
    assert set(hostvars) == {"kewp-prod-1"}
    assert hostvars["kewp-prod-1"]["ansible_host"] == WALK_ADDRESS


def test_the_repository_got_no_production_inventory(walk: Walk, operator: Operator):
    assert (operator.checkout / "inventory" / "production" / "group_vars" / "kewp" / "vault.yml").is_file()
    assert (REPO / "inventory" / "production").exists() == operator.repo_had_production


# ---------------------------------------------------------------- idempotence

def test_readme_converge_again_changes_nothing(operations: Operations, walk: Walk, operator: Operator):
    again = operator.run(walk.converge.args[0], "README converge again")
    assert again.returncode == 0, again.tail()
    assert again.total("changed") == 0, f"tasks that changed: {again.changed_tasks()}"


def test_no_command_reached_the_other_local_vps(operations: Operations, operator: Operator):
    # Last: it looks at everything the module ran.
    shared = re.compile(rf"(?<![\d.]){re.escape(SHARED_ADDRESS)}(?!\d)")
    seen = [command for command, output in outputs if shared.search(output)]
    assert not seen, f"{SHARED_ADDRESS} (inventory/local) appears in the output of: {seen}"
    for run in operator.runs:
        for host in run.recap:
            assert host == "kewp-prod-1", f"{run.args[0]} ran on {host}"
