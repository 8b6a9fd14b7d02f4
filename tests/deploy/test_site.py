"""playbooks/site.yml as a whole: idempotent, and check mode on a converged host is clean."""

import pytest

from .conftest import REUSE_VPS

pytestmark = [pytest.mark.deploy,
              pytest.mark.skipif(REUSE_VPS, reason="KEWP_REUSE_VPS=1: the VPS was converged once, not fresh")]


def test_second_converge_changes_nothing(deployment):
    second = deployment.second
    assert second.recap, f"no PLAY RECAP in the second converge (log {second.log})"
    assert second.total("failed") == 0
    assert second.total("unreachable") == 0
    assert second.total("changed") == 0, f"tasks that changed: {second.changed_tasks()}"


def test_first_converge_changed_the_fresh_host(deployment):
    # A fresh VPS needs changes; none would mean a stale VPS or an unreadable recap.
    assert list(deployment.first.recap) == ["local-vps"]
    assert deployment.first.total("changed") > 0


def test_check_mode_on_the_converged_host_reports_no_changes(deployment, site_playbook):
    run = site_playbook("--check", "--diff", label="check-mode")
    assert run.returncode == 0, run.tail()
    assert run.total("failed") == 0
    assert run.total("changed") == 0, f"tasks that would change: {run.changed_tasks()}"
