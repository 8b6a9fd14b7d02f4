"""Free text from forms: refuse invisible control and bidi characters, normalise line ends.

NUL, ESC and the other C0/C1 controls corrupt terminals, logs and CSV readers; the bidi
overrides and isolates (U+202A-U+202E, U+2066-U+2069) make text display in an order other
than the one stored ("Trojan Source"). Tab, newline and carriage return are ordinary text.
No Flask imports: forms, services and exports all use these.
"""

from __future__ import annotations

import re
import unicodedata

# C0 except tab (09), newline (0A) and CR (0D); DEL and C1 (7F-9F); bidi embeddings/overrides
# (202A-202E) and isolates (2066-2069).
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def normalise_newlines(text: str) -> str:
    """CRLF (and a lone CR) become LF, so stored text has one kind of line end."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    if 0x202A <= ord(char) <= 0x202E or 0x2066 <= ord(char) <= 0x2069:
        return f"a bidirectional-text control character U+{ord(char):04X}{f' ({name})' if name else ''}"
    return f"a control character U+{ord(char):04X}"


def problem(text: str, what: str) -> str | None:
    """None when `text` has no forbidden character; else a message naming the field (`what`),
    the first such character and its position (1-based), and the fix."""
    match = FORBIDDEN.search(text)
    if match is None:
        return None
    return (f"The {what} contains {_describe(match.group())} at position {match.start() + 1}; remove it "
            "(it is invisible: retype the text around that position, or paste it as plain text).")


def strip_forbidden(text: str) -> str:
    """The text without forbidden characters: for output of rows stored before the check existed."""
    return FORBIDDEN.sub("", text)
