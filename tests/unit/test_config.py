"""Start-up configuration: every problem names the variable and the fix."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from app.config import ConfigError, check_data_dir, gunicorn_settings, load_settings

REPO = Path(__file__).resolve().parents[2]
PRODUCTION = {"KEWP_SECRET_KEY": "x" * 40, "KEWP_PUBLIC_URL": "https://kewp.example.org"}


def test_production_without_secret_key_stops_with_the_variable_name():
    with pytest.raises(ConfigError, match="KEWP_SECRET_KEY is not set"):
        load_settings({"KEWP_ENV": "production"})


def test_production_rejects_a_short_secret_key():
    with pytest.raises(ConfigError, match="shorter than 32"):
        load_settings({"KEWP_SECRET_KEY": "short"})


def test_development_generates_a_secret_and_uses_the_local_data_path():
    settings = load_settings({"KEWP_ENV": "development"})
    assert len(settings["SECRET_KEY"]) >= 32
    assert settings["DATABASE"].endswith("data/local/ke_wp_mapping.db")


def test_production_defaults_to_the_container_data_path():
    settings = load_settings({"KEWP_SECRET_KEY": "x" * 40, "KEWP_PUBLIC_URL": "https://kewp.example.org"})
    assert settings["DATABASE"] == "/app/data/ke_wp_mapping.db"
    assert settings["EMBEDDINGS_DIR"] == "/app/data/embeddings"


def test_unknown_environment_is_refused():
    with pytest.raises(ConfigError, match="KEWP_ENV='staging'"):
        load_settings({"KEWP_ENV": "staging"})


def test_bad_number_names_the_variable():
    with pytest.raises(ConfigError, match="KEWP_MAX_UPLOAD_MB='lots'"):
        load_settings({"KEWP_ENV": "development", "KEWP_MAX_UPLOAD_MB": "lots"})


def test_half_configured_github_sign_in_is_refused():
    with pytest.raises(ConfigError, match="KEWP_GITHUB_CLIENT_SECRET"):
        load_settings({"KEWP_ENV": "development", "KEWP_GITHUB_CLIENT_ID": "abc"})


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only tmpfs needs root")
def test_unwritable_data_directory_is_refused(tmp_path):
    """A read-only filesystem is unwritable even for root (who otherwise may write anywhere)."""
    mountpoint = tmp_path / "ro"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mountpoint)], check=True)
    try:
        with pytest.raises(ConfigError, match="is not writable by uid 0"):
            check_data_dir(str(mountpoint / "db.sqlite"))
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


def test_data_directory_that_cannot_be_created_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=r"KEWP_DATABASE=.*cannot create"):
        check_data_dir(str(blocker / "sub" / "db.sqlite"))


def test_create_app_reads_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KEWP_ENV", "development")
    monkeypatch.setenv("KEWP_DATABASE", str(tmp_path / "d" / "x.db"))
    monkeypatch.setenv("KEWP_LOAD_MODEL", "false")
    monkeypatch.chdir(tmp_path)
    app = create_app()
    assert app.config["DATABASE"] == str(tmp_path / "d" / "x.db")
    assert (tmp_path / "d" / "x.db").exists()


# --- public URL ---------------------------------------------------------------------------

def test_production_without_a_public_url_stops_naming_the_variable():
    with pytest.raises(ConfigError, match="KEWP_PUBLIC_URL is not set; set it to"):
        load_settings({"KEWP_SECRET_KEY": "x" * 40})


def test_development_links_default_to_the_local_server():
    assert load_settings({"KEWP_ENV": "development"})["PUBLIC_URL"] == "http://127.0.0.1:8000"


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://kewp.example.org", "https://kewp.example.org"),
    ("https://kewp.example.org/", "https://kewp.example.org"),
    ("HTTPS://KEWP.Example.org:8443/", "https://kewp.example.org:8443"),
    ("https://example.org/kewp/", "https://example.org/kewp"),
    ("https://10.232.0.2", "https://10.232.0.2"),
    ("https://[2001:db8::2]/", "https://[2001:db8::2]"),
])
def test_public_url_is_normalised_without_a_trailing_slash(raw, expected):
    assert load_settings({**PRODUCTION, "KEWP_PUBLIC_URL": raw})["PUBLIC_URL"] == expected


@pytest.mark.parametrize("raw", ["kewp.example.org", "ftp://kewp.example.org", "https://", "https://x.org/?a=1",
                                 "https://x.org/#top", "https://x.org:99999", "https://user@x.org"])
def test_a_bad_public_url_is_refused_naming_the_variable(raw):
    with pytest.raises(ConfigError, match=r"KEWP_PUBLIC_URL=.*https://kewp.example.org"):
        load_settings({**PRODUCTION, "KEWP_PUBLIC_URL": raw})


# --- gunicorn and CLI start-up errors -------------------------------------------------------

def test_gunicorn_settings_come_from_the_environment():
    assert gunicorn_settings({"KEWP_WORKERS": "3", "KEWP_BIND": "127.0.0.1:9000", "KEWP_TIMEOUT": "30",
                              "KEWP_LOG_LEVEL": "WARNING"}) == {
        "bind": "127.0.0.1:9000", "workers": 3, "timeout": 30, "loglevel": "warning"}


@pytest.mark.parametrize(("name", "value", "message"), [
    ("KEWP_WORKERS", "abc", "KEWP_WORKERS='abc' is not a whole number; set it to a number from 1 to 64"),
    ("KEWP_WORKERS", "0", "KEWP_WORKERS=0 is out of range"),
    ("KEWP_TIMEOUT", "soon", "KEWP_TIMEOUT='soon' is not a whole number"),
    ("KEWP_BIND", "8000", "KEWP_BIND='8000' is not HOST:PORT"),
    ("KEWP_LOG_LEVEL", "loud", "KEWP_LOG_LEVEL='loud' is not one of"),
])
def test_a_bad_gunicorn_setting_names_the_variable(name, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        gunicorn_settings({name: value})


def _clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEWP_")}
    env.update(KEWP_DATABASE=str(tmp_path / "data" / "kewp.db"), KEWP_LOAD_MODEL="false", **values)
    return env


def _single_error_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"kewp: configuration error: {expected}"], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(("values", "expected"), [
    ({"KEWP_ENV": "development", "KEWP_WORKERS": "abc"},
     "KEWP_WORKERS='abc' is not a whole number; set it to a number from 1 to 64"),
    ({"KEWP_ENV": "prod"}, "KEWP_ENV='prod' is not one of production, development, testing; set it to one of those"),
    ({"KEWP_ENV": "production", "KEWP_SECRET_KEY": "x" * 40}, "KEWP_PUBLIC_URL is not set; set it to"),
])
def test_gunicorn_stops_with_one_line_naming_a_bad_setting(tmp_path, values, expected):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    result = subprocess.run([str(gunicorn), "-c", str(REPO / "gunicorn.conf.py"), "app:create_app()"],
                            cwd=tmp_path, env=_clean_env(tmp_path, KEWP_BIND="127.0.0.1:1", **values),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert expected in result.stderr
    first = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(first) == 1 and first[0].startswith("kewp: configuration error: "), result.stderr


@pytest.mark.parametrize("command", [["users", "list"], ["catalog"]])
def test_the_cli_stops_with_one_line_naming_a_bad_setting(tmp_path, command):
    flask = Path(sys.executable).with_name("flask")
    result = subprocess.run([str(flask), "--app", "app", *command], cwd=REPO, env=_clean_env(tmp_path, KEWP_ENV="prod"),
                            capture_output=True, text=True, timeout=120, check=False)
    _single_error_line(result, "KEWP_ENV='prod' is not one of production, development, testing; set it to one of "
                               "those (production on a server, development for a local run)")
