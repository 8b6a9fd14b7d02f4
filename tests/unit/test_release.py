"""kewp-release (kewp_host.release): the one docker run of the app, and the blue/green state file."""

from __future__ import annotations

from pathlib import Path

import pytest

from kewp_host import readiness, release

UNIT_ENV = {"KEWP_IMAGE": "kewp:1-abc", "KEWP_MEMORY_LIMIT": "3g", "KEWP_PIDS_LIMIT": "512", "KEWP_UID": "10001",
            "KEWP_GID": "10001", "KEWP_DATA_DIR": "/var/lib/kewp", "KEWP_ENV_FILE": "/etc/kewp/kewp.env",
            "KEWP_BLUE_PORT": "8000", "KEWP_GREEN_PORT": "8001"}


@pytest.fixture
def unit_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in UNIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("KEWP_COLOUR", raising=False)


def test_the_serving_container_keeps_every_confinement_flag(unit_env: None) -> None:
    argv = release.docker_run_argv("kewp", "8000", Path("/run/kewp/kewp.cid"))
    text = " ".join(argv)
    for flag in ("--rm --name kewp --init --pull never", "--read-only", "--cap-drop ALL",
                 "--security-opt no-new-privileges", "--memory 3g --memory-swap 3g", "--pids-limit 512",
                 "--user 10001:10001", "--publish 127.0.0.1:8000:8000", "--volume /var/lib/kewp:/app/data",
                 "--env-file /etc/kewp/kewp.env"):
        assert flag in text, flag
    assert argv[-1] == "kewp:1-abc" and "--cpu-shares" not in argv


def test_a_candidate_starts_with_low_cpu_weight_on_the_other_port(unit_env: None) -> None:
    argv = release.docker_run_argv(release.CANDIDATE, "8001", Path("/run/kewp/candidate.cid"),
                                   release.CANDIDATE_CPU_SHARES)
    assert argv[argv.index("--cpu-shares") + 1] == "128"
    assert "127.0.0.1:8001:8000" in argv and argv[-1] == "kewp:1-abc"


def test_the_live_colour_defaults_to_blue_and_reads_the_state(unit_env: None, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEWP_RELEASE_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("KEWP_HOST_PORT", raising=False)
    assert release.live_colour() == "blue" and readiness.live_state() == {}
    assert readiness.live_url() == "http://127.0.0.1:8000/readyz"
    assert release.colours() == {"blue": "8000", "green": "8001"}
    (tmp_path / "live.env").write_text("KEWP_COLOUR=green\nKEWP_HOST_PORT=8001\n")
    assert readiness.live_state() == {"KEWP_COLOUR": "green", "KEWP_HOST_PORT": "8001"}
    # wait-ready, the health check and kewpctl all ask the colour that serves
    assert readiness.live_url() == "http://127.0.0.1:8001/readyz"
    monkeypatch.setenv("KEWP_COLOUR", "purple")
    assert release.live_colour() == "blue"  # anything else than the two colours is blue
