"""The kewp_host role on the converged local VPS: what the kewp roles share is installed once
(directories, the host tools, kewp-alert@, the runbook, the verify helper) and the shared
sandbox drop-in is in effect on every kewp-* service."""

from __future__ import annotations

from pathlib import Path

import pytest
from testinfra.host import Host

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp-alert@*", "kewp-backup", "kewp-healthcheck")

UNITS = "/etc/systemd/system"
HARDENING = f"{UNITS}/kewp-.service.d/10-hardening.conf"
# Every kewp-*.service the roles install (kewp-alert@ as an instance); kewp.service has no dash.
HOST_SERVICES = ("kewp-backup.service", "kewp-prune.service", "kewp-restore-drill.service",
                 "kewp-healthcheck.service", "kewp-alert@kewp-backup.service.service")
TOOLS = {
    "kewp-backup": "/usr/local/sbin/kewp-backup",
    "kewpctl": "/usr/local/bin/kewpctl",
    "kewp-healthcheck": "/usr/local/libexec/kewp/kewp-healthcheck",
    "wait-ready": "/usr/local/libexec/kewp/wait-ready",
}
MODULES = {"kewp-backup": "kewp_host.backup.cli", "kewpctl": "kewp_host.ctl",
           "kewp-healthcheck": "kewp_host.healthcheck", "wait-ready": "kewp_host.wait_ready"}
PACKAGE = "/usr/local/lib/kewp/kewp_host"
REPO = Path(__file__).resolve().parents[2]
VERIFY = "/usr/local/libexec/kewp/verify-unit"


def properties(host: Host, unit: str, *names: str) -> dict[str, str]:
    out = host.check_output(f"systemctl show {unit} " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines())


# ---------------------------------------------------------------- directories and runbook


@pytest.mark.parametrize(("path", "user", "mode"), [
    ("/var/lib/kewp", "kewp", 0o750),
    ("/etc/kewp", "root", 0o750),
    ("/usr/local/libexec/kewp", "root", 0o755),
    ("/usr/local/share/doc/kewp", "root", 0o755),
])
def test_shared_directory_has_its_owner_and_mode(host: Host, path: str, user: str, mode: int) -> None:
    d = host.file(path)
    assert d.is_directory and d.user == user and d.mode == mode


@pytest.mark.parametrize("page", ["oncall.md", "operations.md"])
def test_runbook_page_the_units_link_to_is_installed(host: Host, page: str) -> None:
    f = host.file(f"/usr/local/share/doc/kewp/{page}")
    assert f.user == "root" and f.mode == 0o644
    assert f.content_string.startswith("# kewp")


def test_every_runbook_anchor_a_unit_links_to_exists(host: Host) -> None:
    docs = host.check_output("systemctl show -p Documentation --value kewp.service " + " ".join(HOST_SERVICES)).split()
    anchors = {d.split("#", 1)[1] for d in docs if "oncall.md#" in d}
    assert anchors >= {"backup-failed", "backup-prune-failed", "restore-drill-failed", "kewp-healthcheck", "alerts"}
    headings = host.check_output("grep '^#' /usr/local/share/doc/kewp/oncall.md")
    slugs = {"-".join("".join(c for c in h.lstrip("#").strip().lower() if c.isalnum() or c in " -").split())
             for h in headings.splitlines()}
    assert anchors <= slugs, anchors - slugs


# ---------------------------------------------------------------- alerting


def test_alert_unit_is_installed_once(host: Host) -> None:
    found = host.check_output("find /etc/systemd /run/systemd/system /usr/lib/systemd -name 'kewp-alert@*' "
                              "-not -path '*.d/*'").split()
    assert found == [f"{UNITS}/kewp-alert@.service"]


@pytest.mark.parametrize("unit", HOST_SERVICES[:4])
def test_each_failure_starts_the_one_alert_unit(host: Host, unit: str) -> None:
    assert properties(host, unit, "OnFailure")["OnFailure"] == f"kewp-alert@{unit}.service"


@pytest.mark.parametrize(("unit", "anchor"), [
    ("kewp-backup.service", "backup-failed"),
    ("kewp-prune.service", "backup-prune-failed"),
    ("kewp-restore-drill.service", "restore-drill-failed"),
    ("kewp-healthcheck.service", "health-watch-alerts"),
])
def test_each_alert_names_the_runbook_section_of_what_failed(host: Host, unit: str, anchor: str) -> None:
    # What kewp-alert@UNIT runs, from a shell: the lines go to stderr, not to the journal.
    result = host.run(f"/usr/local/sbin/kewp-backup alert {unit} --lines 1")
    assert f"runbook: docs/oncall.md#{anchor};" in result.stderr, result.stderr


def test_alert_settings_are_root_only(host: Host) -> None:
    f = host.file("/etc/kewp/alert.env")
    assert f.user == "root" and f.mode == 0o600
    assert f.contains("^KEWP_ALERT_WEBHOOK_URL=")


# ---------------------------------------------------------------- the shared sandbox


def test_hardening_drop_in_is_root_owned(host: Host) -> None:
    f = host.file(HARDENING)
    assert f.user == "root" and f.mode == 0o644


@pytest.mark.parametrize("unit", HOST_SERVICES)
def test_hardening_drop_in_applies_to_each_kewp_service(host: Host, unit: str) -> None:
    props = properties(host, unit, "DropInPaths", "ProtectSystem", "NoNewPrivileges", "PrivateTmp",
                       "SystemCallFilter", "MemoryDenyWriteExecute", "CapabilityBoundingSet")
    assert HARDENING in props["DropInPaths"].split()
    assert props["ProtectSystem"] == "strict"
    assert props["NoNewPrivileges"] == "yes"
    assert props["PrivateTmp"] == "yes"
    assert props["MemoryDenyWriteExecute"] == "yes"
    assert props["CapabilityBoundingSet"] == ""
    assert props["SystemCallFilter"]   # an allow list is in place
    assert HARDENING in host.check_output(f"systemctl cat {unit}")


def test_hardening_drop_in_leaves_the_app_unit_alone(host: Host) -> None:
    assert HARDENING not in properties(host, "kewp.service", "DropInPaths")["DropInPaths"]


@pytest.mark.parametrize(("unit", "limit"), [(u, 0.5) for u in HOST_SERVICES[:3]]
                         + [("kewp-healthcheck.service", 2.0), ("kewp-alert@x.service", 1.5)])
def test_exposure_of_each_kewp_service_stays_low(host: Host, unit: str, limit: float) -> None:
    out = host.check_output(f"systemd-analyze security --no-pager {unit} | tail -n 1")
    assert float(out.split(f"{unit}:")[1].split()[0]) <= limit, out


# ---------------------------------------------------------------- the verify helper


def test_verify_helper_passes_each_installed_unit_and_drop_in(host: Host) -> None:
    for name in ("kewp.service", "kewp-backup.timer", "kewp-alert@.service", "kewp.service.d/10-site.conf",
                 "kewp-backup.service.d/10-site.conf", "kewp-.service.d/10-hardening.conf"):
        result = host.run(f"{VERIFY} {name} {UNITS}/{name}")
        assert result.rc == 0, f"{name}: {result.stderr}"


def test_verify_helper_refuses_a_drop_in_with_a_typo(host: Host) -> None:
    host.check_output("printf '[Service]\\nProtectSystem=strict\\nPrivateTmpp=yes\\n' > /tmp/bad.conf")
    try:
        result = host.run(f"{VERIFY} kewp-.service.d/10-hardening.conf /tmp/bad.conf")
    finally:
        host.run("rm -f /tmp/bad.conf")
    assert result.rc == 1
    assert "PrivateTmpp" in result.stderr


# ---------------------------------------------------------------- the host tools


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_host_tool_is_installed_root_owned(host: Host, tool: str) -> None:
    f = host.file(TOOLS[tool])
    assert f.user == "root" and f.group == "root" and f.mode == 0o755


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_host_tool_answers_help_the_way_the_units_run_it(host: Host, tool: str) -> None:
    result = host.run(f"/usr/bin/python3 -I {TOOLS[tool]} --help")
    assert result.rc == 0, result.stderr
    assert tool in result.stdout


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_host_tool_is_a_thin_entry_point_into_the_package(host: Host, tool: str) -> None:
    text = host.file(TOOLS[tool]).content_string
    assert text.startswith("#!/usr/bin/python3 -I\n")
    assert 'sys.path.insert(0, "/usr/local/lib/kewp")' in text
    assert f"from {MODULES[tool]} import main" in text
    assert len(text.splitlines()) < 15


def test_package_is_the_repository_s_root_owned_without_byte_code_from_the_control_node(host: Host) -> None:
    wanted = sorted(str(p.relative_to(REPO / "kewp_host")) for p in (REPO / "kewp_host").rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    listing = host.check_output(f"cd {PACKAGE} && find . -path '*/__pycache__' -prune -o -type f "
                                "-printf '%P\\t%u %m\\n'")
    installed = dict(line.split("\t") for line in listing.splitlines())
    assert sorted(installed) == wanted
    assert set(installed.values()) == {"root 644"}
    dirs = host.check_output(f"find {PACKAGE} -path '*/__pycache__' -prune -o -type d -printf '%u %m\\n' | sort -u")
    assert dirs.splitlines() == ["root 755"]
