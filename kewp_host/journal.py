"""Log lines that journald files under the right priority, and that read plainly on a terminal."""

from __future__ import annotations

import os
import sys
from typing import TextIO

PRIORITY = {"crit": 2, "error": 3, "warning": 4, "notice": 5, "info": 6}


def under_journald() -> bool:
    """systemd sets JOURNAL_STREAM when a unit's stdout/stderr goes to the journal."""
    return bool(os.environ.get("JOURNAL_STREAM"))


def format_lines(tool: str, message: str, level: str = "info", *, journal: bool | None = None) -> list[str]:
    """One output line per line of message: "<N>text" for journald (N = syslog priority), else
    "tool: level: text" ("tool: text" for info)."""
    if level not in PRIORITY:
        raise ValueError(f"unknown log level {level!r}")
    journal = under_journald() if journal is None else journal
    tag = "" if level == "info" else f"{level}: "
    return [f"<{PRIORITY[level]}>{line}" if journal else f"{tool}: {tag}{line}"
            for line in message.splitlines() or [""]]


class Logger:
    """log(message, level) for one tool; the stream is looked up at each call (sys.stderr may be replaced)."""

    def __init__(self, tool: str, stream: str = "stderr") -> None:
        self.tool = tool
        self.stream = stream

    def __call__(self, message: str, level: str = "info") -> None:
        out: TextIO = getattr(sys, self.stream)
        for line in format_lines(self.tool, message, level):
            print(line, file=out, flush=True)
