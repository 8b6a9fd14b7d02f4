"""Settings of the host tools: the environment first, then a KEY=VALUE file written by a role, then defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class SettingError(ValueError):
    """A setting the tool cannot use; the message names the setting, its value and what to give."""


def unquote(value: str) -> str:
    """A value without surrounding whitespace and one pair of matching quotes."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def parse_env_file(text: str, name: str = "-", *, strict: bool = True) -> dict[str, str]:
    """KEY=VALUE lines (blank lines and # comments skipped). A line without "=" is an error when
    strict, else skipped."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            if strict:
                raise SettingError(f"{name}:{number}: expected KEY=VALUE, got {raw!r}")
            continue
        values[key.strip()] = unquote(value)
    return values


def read_env_file(path: Path, *, strict: bool = True) -> dict[str, str]:
    """parse_env_file on a file; OSError (missing, unreadable) is the caller's to handle."""
    return parse_env_file(path.read_text(), str(path), strict=strict)


class Layers:
    """Look settings up in the environment, then in a file's values, then in the defaults given.

    With empty_is_unset, an empty (or blank) environment variable counts as not set.
    """

    def __init__(self, file_values: Mapping[str, str], file_name: str, *, empty_is_unset: bool = False,
                 environ: Mapping[str, str] | None = None) -> None:
        self.file_values = file_values
        self.file_name = file_name
        self.empty_is_unset = empty_is_unset
        self.environ = os.environ if environ is None else environ

    def lookup(self, key: str, default: str) -> tuple[str, str]:
        """(value, where it came from: "environment", the file's name or "default")."""
        value = self.environ.get(key)
        if value is not None and not (self.empty_is_unset and not value.strip()):
            return value, "environment"
        if key in self.file_values:
            return self.file_values[key], self.file_name
        return default, "default"


def env(name: str, default: str) -> str:
    """An environment variable, stripped; unset or blank gives the default."""
    return os.environ.get(name, "").strip() or default


def whole_number(key: str, value: str, *, minimum: int = 0, source: str = "") -> int:
    """value as an int >= minimum, else a SettingError naming key (and source, when given)."""
    if not value.isdigit() or int(value) < minimum:
        where = f" (from {source})" if source else ""
        raise SettingError(f"{key}={value!r}{where}: give a whole number >= {minimum}")
    return int(value)
