"""Start-up configuration: every problem names the variable and the fix."""

from __future__ import annotations

import os
import subprocess

import pytest

from app import create_app
from app.config import ConfigError, check_data_dir, load_settings


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
    settings = load_settings({"KEWP_SECRET_KEY": "x" * 40})
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
