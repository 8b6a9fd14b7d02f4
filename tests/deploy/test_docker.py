"""The docker role on the converged local VPS: engine, service, daemon.json."""

import json

import pytest

pytestmark = pytest.mark.deploy

JOURNAL_UNITS = ("docker", "containerd")


def test_docker_engine_comes_from_debian(host):
    package = host.package("docker.io")
    assert package.is_installed
    assert "+deb12" in package.version or package.version.startswith("20.10")


def test_docker_service_is_running(host):
    assert host.service("docker").is_running


def test_docker_service_is_enabled(host):
    assert host.service("docker").is_enabled


def test_docker_socket_is_listening(host):
    assert host.socket("unix:///run/docker.sock").is_listening


def test_daemon_json_is_owned_by_root_and_world_readable(host):
    daemon_json = host.file("/etc/docker/daemon.json")
    assert daemon_json.is_file
    assert daemon_json.user == "root"
    assert daemon_json.group == "root"
    assert daemon_json.mode == 0o644


def test_daemon_json_rotates_logs_and_keeps_containers_on_restart(host):
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config == {
        "log-driver": "json-file",
        "log-opts": {"max-size": "10m", "max-file": "3"},
        "live-restore": True,
    }


def test_running_daemon_uses_the_configuration(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True


def test_a_wrong_log_driver_fails_at_the_start_with_the_argument_spec_message(site_playbook):
    run = site_playbook("-e", "docker_daemon_log_driver=syslog", "--tags", "docker", label="wrong-log-driver")
    assert run.returncode == 2, run.tail()
    assert "Validating arguments against arg spec 'main'" in run.output
    assert "docker_daemon_log_driver" in run.output
    assert "value of docker_daemon_log_driver must be one of: json-file, local, journald, got: syslog" in run.output
    assert run.total("changed") == 0
