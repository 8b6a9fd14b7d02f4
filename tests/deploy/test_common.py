"""The common role on the converged local VPS: packages, time, upgrades, journal, kewp user."""

import pytest

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("systemd-journald", "systemd-timesyncd", "apt-daily-upgrade", "unattended-upgrades")

KEWP_UID = 10001
KEWP_GID = 10001


@pytest.mark.parametrize(
    "package",
    ["sqlite3", "curl", "ca-certificates", "python3", "zstd", "systemd-timesyncd", "unattended-upgrades"],
)
def test_base_package_is_installed(host, package):
    assert host.package(package).is_installed


def test_kewp_group_has_the_fixed_gid(host):
    group = host.group("kewp")
    assert group.exists
    assert group.gid == KEWP_GID


def test_kewp_user_has_the_fixed_uid_and_group(host):
    user = host.user("kewp")
    assert user.exists
    assert user.uid == KEWP_UID
    assert user.gid == KEWP_GID
    assert user.group == "kewp"


def test_kewp_user_has_no_login_shell(host):
    assert host.user("kewp").shell == "/usr/sbin/nologin"


def test_kewp_user_has_no_password(host):
    # Locked ('!') or none ('*'): nobody can log in as kewp with a password.
    assert host.user("kewp").password in ("!", "*", "!*")


def test_kewp_user_has_no_home_directory(host):
    home = host.user("kewp").home
    assert home == "/nonexistent"
    assert not host.file(home).exists


def test_journald_drop_in_caps_the_journal(host):
    drop_in = host.file("/etc/systemd/journald.conf.d/50-kewp.conf")
    assert drop_in.is_file
    assert drop_in.user == "root"
    assert drop_in.mode == 0o644
    assert drop_in.contains("^Storage=persistent$")
    assert drop_in.contains("^MaxRetentionSec=1month$")


def test_journald_uses_the_inventory_size_cap(host):
    # inventory/local/group_vars/kewp/vars.yml: 100M / 200M, over the role's 500M / 1G.
    config = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "SystemMaxUse=100M" in config.splitlines()
    assert "SystemKeepFree=200M" in config.splitlines()


def test_journal_is_kept_on_disk(host):
    machine_id = host.file("/etc/machine-id").content_string.strip()
    assert host.file(f"/var/log/journal/{machine_id}/system.journal").is_file


def test_journald_is_running(host):
    assert host.service("systemd-journald").is_running


def test_timesyncd_is_enabled(host):
    # In a container (this VPS) systemd-timesyncd's ConditionVirtualization=!container keeps it
    # from running; on a real VPS the role also starts it.
    assert host.service("systemd-timesyncd").is_enabled


def test_timesyncd_runs_unless_in_a_container(host):
    in_container = host.run("systemd-detect-virt --container").rc == 0
    if in_container:
        pytest.skip("systemd-timesyncd does not run in a container (the host keeps the time)")
    assert host.service("systemd-timesyncd").is_running


def test_unattended_upgrades_take_security_updates_only(host):
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    patterns = sorted(
        line.split('"')[1] for line in dump.splitlines() if line.startswith('Unattended-Upgrade::Origins-Pattern:: "')
    )
    assert patterns == sorted(
        [
            "origin=Debian,codename=${distro_codename},label=Debian-Security",
            "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
        ]
    )


def test_unattended_upgrades_do_not_reboot_by_default(host):
    assert host.check_output("apt-config shell R Unattended-Upgrade::Automatic-Reboot") == "R='false'"


def test_apt_refreshes_lists_and_upgrades_daily(host):
    assert host.check_output("apt-config shell U APT::Periodic::Update-Package-Lists") == "U='1'"
    assert host.check_output("apt-config shell U APT::Periodic::Unattended-Upgrade") == "U='1'"


@pytest.mark.parametrize("timer", ["apt-daily.timer", "apt-daily-upgrade.timer"])
def test_apt_timer_is_enabled_and_active(host, timer):
    service = host.service(timer)
    assert service.is_enabled
    assert service.is_running


def test_unattended_upgrade_accepts_the_configuration(host):
    result = host.run("unattended-upgrade --dry-run")
    assert result.rc == 0, result.stderr


def test_a_wrong_uid_fails_at_the_start_with_the_argument_spec_message(site_playbook):
    run = site_playbook("-e", "common_kewp_uid=many", label="wrong-uid")
    assert run.returncode == 2, run.tail()
    assert "Validating arguments against arg spec 'main'" in run.output
    assert "argument 'common_kewp_uid' is of type str and we were unable to convert to int" in run.output
    # Nothing ran after the validation.
    assert "Install the base packages" not in run.output
    assert run.total("changed") == 0
