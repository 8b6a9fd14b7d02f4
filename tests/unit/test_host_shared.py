"""The shared modules of the host tools (kewp_host): settings, log lines, files, docker's and
systemd's answers, and /readyz answers."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from kewp_host import docker, files, journal, paths, readiness, settings, systemd

from .host_helpers import ReadyzApp, environment


def test_the_data_dir_and_database_name_are_the_vps_ones() -> None:
    assert paths.DB_PATH == "/var/lib/kewp/ke_wp_mapping.db"
    assert paths.DB_PATH == f"{paths.DATA_DIR}/{paths.DB_NAME}"


# ---------------------------------------------------------------- settings


def test_an_env_file_skips_comments_and_blank_lines_and_removes_one_pair_of_quotes() -> None:
    text = "# a comment\n\nA=1\n B = 'two words' \nC=\"x\"\nD='unmatched\nE=a=b\n"
    assert settings.parse_env_file(text) == {"A": "1", "B": "two words", "C": "x", "D": "'unmatched", "E": "a=b"}


def test_a_line_without_an_equals_sign_is_an_error_only_when_strict() -> None:
    with pytest.raises(settings.SettingError, match=r"f\.env:2: expected KEY=VALUE, got 'oops'"):
        settings.parse_env_file("A=1\noops\n", "f.env")
    assert settings.parse_env_file("A=1\noops\n", strict=False) == {"A": "1"}


def test_layers_take_the_environment_then_the_file_then_the_default() -> None:
    layers = settings.Layers({"A": "file", "B": "file"}, "/etc/default/x", environ={"A": "env", "B": " "})
    assert layers.lookup("A", "d") == ("env", "environment")
    assert layers.lookup("B", "d") == (" ", "environment")
    assert layers.lookup("C", "d") == ("d", "default")
    blank_unset = settings.Layers({"B": "file"}, "/etc/default/x", empty_is_unset=True, environ={"B": " "})
    assert blank_unset.lookup("B", "d") == ("file", "/etc/default/x")


def test_env_strips_and_a_blank_value_gives_the_default() -> None:
    with environment({"X": "  v ", "Y": "   "}):
        assert settings.env("X", "d") == "v"
        assert settings.env("Y", "d") == "d"
        assert settings.env("Z", "d") == "d"


def test_whole_number_names_the_setting_and_where_it_came_from() -> None:
    assert settings.whole_number("K", "3", minimum=1) == 3
    with pytest.raises(settings.SettingError, match=r"^K='0': give a whole number >= 1$"):
        settings.whole_number("K", "0", minimum=1)
    with pytest.raises(settings.SettingError, match=r"^K='-1' \(from environment\): give a whole number >= 0$"):
        settings.whole_number("K", "-1", source="environment")


# ---------------------------------------------------------------- log lines


def test_log_lines_carry_a_priority_under_journald_and_the_tool_name_elsewhere() -> None:
    assert journal.format_lines("t", "a\nb", "error", journal=True) == ["<3>a", "<3>b"]
    assert journal.format_lines("t", "a", "info", journal=False) == ["t: a"]
    assert journal.format_lines("t", "a", "notice", journal=False) == ["t: notice: a"]
    assert journal.format_lines("t", "", journal=False) == ["t: "]
    with environment({"JOURNAL_STREAM": "8:1"}):
        assert journal.format_lines("t", "a", "crit") == ["<2>a"]
    with pytest.raises(ValueError, match="unknown log level"):
        journal.format_lines("t", "a", "loud")


def test_a_logger_writes_to_the_stream_of_the_moment(capsys: pytest.CaptureFixture[str]) -> None:
    with environment({}):
        journal.Logger("tool", "stdout")("to stdout", "warning")
        journal.Logger("tool")("to stderr")
    out, err = capsys.readouterr()
    assert out == "tool: warning: to stdout\n"
    assert err == "tool: to stderr\n"


# ---------------------------------------------------------------- files


def test_write_atomic_replaces_the_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    files.write_atomic(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_sha256_size_and_unlink_of_real_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * (files.CHUNK + 3))
    assert files.sha256_file(data) == hashlib.sha256(data.read_bytes()).hexdigest()
    assert files.file_size(data) == files.CHUNK + 3
    files.unlink_quietly(data, tmp_path / "never-there")
    assert files.file_size(data) == 0
    files.fsync_dir(tmp_path)
    assert files.free_bytes(tmp_path) > 0


def test_human_sizes() -> None:
    assert files.human(512) == "512 B"
    assert files.human(1536) == "1.5 KiB"
    assert files.human(3 * 2**40) == "3072.0 GiB"
    assert files.human(3 * 2**40, "TiB") == "3.0 TiB"


# ---------------------------------------------------------------- systemd and docker


def test_systemctl_show_output_and_the_journal_of_one_run() -> None:
    assert systemd.properties("A=1\nB=x=y\nnoise\n") == {"A": "1", "B": "x=y"}
    assert systemd.journal_argv("u.service", "abc", 5)[-1] == "_SYSTEMD_INVOCATION_ID=abc"
    assert systemd.journal_argv("u.service", None, 5)[-2:] == ["-u", "u.service"]


def test_the_status_text_goes_to_the_notify_socket(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        with environment({"NOTIFY_SOCKET": address}):
            assert systemd.notify_status("ready: yes") is None
        assert sock.recv(2000) == b"STATUS=ready: yes"
    with environment({"NOTIFY_SOCKET": str(tmp_path / "gone")}):
        assert systemd.notify_status("x")
    with environment({}):
        assert systemd.notify_status("x") is None


TOP = """PID PPID COMMAND
100 90 /sbin/docker-init -- gunicorn
101 100 /usr/local/bin/python /usr/local/bin/gunicorn -c gunicorn.conf.py app:create_app()
102 101 /usr/local/bin/python /usr/local/bin/gunicorn -c gunicorn.conf.py app:create_app()
103 101 /usr/local/bin/python /usr/local/bin/gunicorn -c gunicorn.conf.py app:create_app()
104 101 sh -c sleep 1
"""


def test_gunicorn_masters_and_workers_from_docker_top() -> None:
    procs = docker.parse_top(TOP)
    assert [p[0] for p in procs] == [101, 102, 103]
    masters, workers = docker.split_gunicorn(procs)
    assert [m[0] for m in masters] == [101]
    assert [w[0] for w in workers] == [102, 103]


def test_the_version_comes_from_the_environment_else_the_image_labels() -> None:
    info = {"Config": {"Env": ["KEWP_VERSION=1.2", "PATH=/bin"], "Labels": {docker.REVISION_LABEL: "abc"}}}
    assert docker.environment(info) == {"KEWP_VERSION": "1.2", "PATH": "/bin"}
    assert docker.version(info) == ("1.2", "abc")
    assert docker.version({"Config": {"Labels": {docker.VERSION_LABEL: "0.9"}}}) == ("0.9", "unknown")
    assert docker.version({}) == ("unknown", "unknown")


# ---------------------------------------------------------------- readiness


def test_a_readyz_answer_says_ready_and_writable_apart() -> None:
    ok = readiness.read(200, json.dumps({"ready": True, "writable": True, "version": "1"}))
    assert (ok.ready, ok.writable, ok.version) == (True, True, "1")
    full = readiness.read(200, json.dumps({"ready": True, "writable": False, "disk": {"status": "0 MiB free"}}))
    assert (full.ready, full.writable, full.disk) == (True, False, {"status": "0 MiB free"})
    down = readiness.read(503, json.dumps({"ready": False, "version": "1", "database": "error"}))
    assert (down.ready, down.writable, down.reasons()) == (False, True, {"database": "error"})
    assert readiness.read(200, "<html>") == readiness.Readiness(200)
    assert readiness.read(200, json.dumps([1])).ready is False


def test_fetch_reads_a_real_readyz_and_says_why_nothing_answered() -> None:
    app = ReadyzApp()
    try:
        status, body, error = readiness.fetch(app.url, 2)
        assert (status, error) == (200, "") and json.loads(body)["ready"] is True
        app.status = 503
        assert readiness.fetch(app.url, 2)[0] == 503
        app.status = None
        status, body, error = readiness.fetch(app.url, 2)
        assert status is None and body == b"" and error
    finally:
        app.close()
