"""Blue/green releases (kewp-release, issue 16): signed-in readers and writers through nginx over
HTTPS while playbooks/deploy.yml releases a new version, then while it tries a version that never
gets ready. 0 failed requests, every acknowledged write stored, the old version serving throughout
the failed one, and the play says why. Deploys twice (a new image each): in MORE_SUITES."""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
from testinfra.host import Host

from .conftest import REPO, summary_lines
from .test_catalog_refresh import Readers
from .test_faults import Curator, Storm, sql
from .test_kewp_app import current_image, run_deploy

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("kewp", "nginx")
PAIRS_WPS = ("WP254", "WP3", "WP45", "WP75", "WP179", "WP707", "WP1772", "WP2380")


def live_colour(host: Host) -> str:
    return host.check_output("sed -n 's/^KEWP_COLOUR=//p' /var/lib/kewp-release/live.env") or "blue"


def under_load(host: Host, deployment, *deploy_args: str, label: str) -> dict:
    """Run deploy.yml while two curators read and two post proposals; what each saw."""
    base = f"https://{deployment.address}"
    accounts = []
    for _ in range(2):
        name, password = f"bg-{secrets.token_hex(3)}", secrets.token_urlsafe(18)
        made = host.run(f"printf '%s\\n' '{password}' | docker exec -i -e KEWP_LOAD_MODEL=false kewp "
                        f"flask --app app users add {name} --role curator --password-stdin")
        assert made.rc == 0, made.stderr
        accounts.append((name, password))
    kes = sql(host, "SELECT ke_id FROM key_events WHERE ke_id NOT IN (SELECT ke_id FROM proposals) "
                    "AND ke_id NOT IN (SELECT ke_id FROM mappings) ORDER BY ke_id LIMIT 400").splitlines()
    pairs: Iterator[tuple[str, str]] = ((ke, wp) for wp in PAIRS_WPS for ke in kes)
    writers = [Curator(base, name, password, follow) for (name, password), follow
               in zip(accounts, (True, False), strict=True)]
    readers = [Curator(base, name, password, True) for name, password in accounts]
    for curator in writers + readers:
        curator.sign_in()
    tag = secrets.token_hex(4)
    before = {"image": current_image(host), "colour": live_colour(host),
              "pid": host.check_output("systemctl show -p MainPID --value kewp.service")}
    # The writers' posts are bounded (Storm): they start when the candidate container does, so they
    # cover the switch (or the failed candidate's whole life), not the image build before it.
    result: dict = {}
    deploying = threading.Thread(target=lambda: result.update(run=run_deploy(*deploy_args, label=label)))
    with Readers(readers) as reading:
        deploying.start()
        deadline = time.monotonic() + 900
        while deploying.is_alive() and time.monotonic() < deadline:
            if host.run("docker container inspect kewp-candidate").rc == 0:
                break
            time.sleep(1)
        with Storm(writers, pairs, tag) as storm:
            deploying.join(timeout=900)
            time.sleep(3)
    run = result["run"]
    acknowledged = storm.acknowledged()
    stored = set(sql(host, f"SELECT rationale FROM proposals WHERE rationale LIKE 'Fault test {tag} #%'")
                 .splitlines())
    return {"run": run, "reading": reading, "storm": storm, "before": before,
            "missing": [r for r in acknowledged if r not in stored], "acknowledged": len(acknowledged),
            "after": {"image": current_image(host), "colour": live_colour(host),
                      "pid": host.check_output("systemctl show -p MainPID --value kewp.service")}}


def assert_no_failed_request(seen: dict) -> None:
    storm, reading = seen["storm"], seen["reading"]
    failed_posts = {k: v for c in storm.curators for k, v in c.tally.statuses.items() if k not in (303, "follow 200")}
    assert not failed_posts and not any(c.tally.unexpected for c in storm.curators), storm.report()
    assert not reading.failures, (reading.answers, reading.failures[:10])
    assert seen["acknowledged"] > 0 and not seen["missing"], seen["missing"][:10]


@pytest.fixture(scope="module")
def released(host: Host, deployment) -> dict:
    seen = under_load(host, deployment, "-e", f"kewp_app_version=bluegreen-{secrets.token_hex(3)}",
                      label="deploy-bluegreen")
    summary_lines.append(f"blue/green deploy: {seen['acknowledged']} writes acknowledged, reads "
                         f"{seen['reading'].answers}, deploy {seen['run'].seconds:.0f} s")
    return seen


def test_a_release_switches_colour_and_image(released: dict) -> None:
    assert released["run"].returncode == 0, released["run"].tail()
    assert released["after"]["image"] != released["before"]["image"]
    assert released["after"]["colour"] != released["before"]["colour"]
    assert released["after"]["pid"] != released["before"]["pid"]


def test_no_request_failed_and_every_write_was_stored_during_the_release(released: dict) -> None:
    assert_no_failed_request(released)


def test_systemd_shows_the_colour_version_and_readiness(released: dict, host: Host) -> None:
    status = host.check_output("systemctl show -p StatusText --value kewp.service")
    assert status.startswith("ready: kewp "), status
    assert f"colour {released['after']['colour']}" in status and released["after"]["image"] in status
    assert host.check_output("docker inspect --format '{{.Config.Image}}' kewp") == released["after"]["image"]
    last = host.check_output("cat /var/lib/kewp-release/last-release")
    assert "released:" in last, last


def test_the_journal_has_both_apps_during_the_switch(released: dict, host: Host) -> None:
    # The access log floods the tail: pick kewp-release's steps and gunicorn's start/stop lines.
    journal = host.check_output("journalctl -u kewp --no-pager -o cat --since -30min "
                                "| grep -E 'kewp-release: |Booting worker|Shutting down: Master' | tail -n 60")
    assert "serves; starting" in journal and "draining" in journal, journal
    assert "Booting worker" in journal and "Shutting down: Master" in journal, journal


def test_a_version_that_never_gets_ready_is_removed_and_the_old_one_serves(
        released: dict, host: Host, deployment, tmp_path) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "build", "node_modules",
                                                            "__pycache__", "test-artifacts"))
    # Starts, answers /readyz 503 for ever: the embeddings directory it is told to use is missing.
    (src / "gunicorn.conf.py").write_text((REPO / "gunicorn.conf.py").read_text()
                                          + "\nimport os\nos.environ['KEWP_EMBEDDINGS_DIR'] = '/app/data/none'\n")
    seen = under_load(host, deployment, "-e", f"kewp_app_source_dir={src}",
                      "-e", f"kewp_app_wheelhouse_dir={REPO / 'build' / 'wheelhouse'}",
                      "-e", "kewp_app_version=never-ready-test", "-e", "kewp_app_ready_timeout=45",
                      label="deploy-never-ready")
    run = seen["run"]
    assert run.returncode != 0
    assert "never stopped serving" in run.output, run.tail()
    assert "not ready after" in run.output, run.tail()
    assert seen["after"] == seen["before"], (seen["before"], seen["after"])
    assert_no_failed_request(seen)
    assert host.run("docker container inspect kewp-candidate").rc != 0
    drop_in = host.check_output("systemctl show -p Environment --value kewp.service")
    assert f"KEWP_IMAGE={seen['before']['image']}" in drop_in


def test_nothing_ready_is_a_503_page_with_retry_after(host: Host, deployment) -> None:
    host.run_expect([0], "systemctl stop kewp.service")
    try:
        answer = host.run("curl -sk -D - -o /dev/null https://127.0.0.1/ke/55")
        assert " 503" in answer.stdout.splitlines()[0], answer.stdout
        assert "retry-after: 10" in answer.stdout.lower(), answer.stdout
        page = host.check_output("curl -sk https://127.0.0.1/ke/55")
        assert "kewp is not available right now" in page
    finally:
        host.run_expect([0], "systemctl start kewp.service")
    assert host.check_output("systemctl is-active kewp.service") == "active"
