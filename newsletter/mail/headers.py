"""Header lines from text we did not write: encoded by us, never parsed.

The stdlib's folding policies parse a value before they fold it, and parsing
decodes RFC 2047 encoded-words: a subject typed as `=?utf-8?q?a=0D=0AX-Evil:_1?=`
came out as a raw CR/LF and a header of the attacker's. So nothing here parses
a value. Whitespace (CR and LF included) collapses to single spaces; a value of
printable ASCII without `=?` is folded at spaces as it is; anything else becomes
base64 encoded-words, which a reader's mail program decodes back to exactly the
text given, encoded-word look-alikes included, as text. Control characters, which
no header may show, are dropped.
"""
from __future__ import annotations

import base64
import re
import unicodedata

MAX_LINE = 78  # RFC 5322's recommended line length, folding whitespace included
_PLAIN = re.compile(r"[\x20-\x7e]*")
_ATOM_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_UNSAFE_ADDRESS = re.compile(r"[\x00-\x20\x7f<>\"\\,;]")


class HeaderError(ValueError):
    """A value that cannot go into a header safely (an address with a bracket, say)."""


def _text(value: str) -> str:
    """One line of showable text: whitespace runs (CR and LF among them) become one
    space, control characters go."""
    if not value.isprintable():
        value = "".join(ch for ch in value if ch.isspace() or unicodedata.category(ch) != "Cc")
    return " ".join(value.split())


def _is_plain(value: str) -> bool:
    return bool(_PLAIN.fullmatch(value)) and "=?" not in value


def _encoded_words(text: str, room: int) -> list[str]:
    """`=?utf-8?b?…?=` words of whole characters, each at most `room` characters long."""
    words, chunk = [], ""
    for char in text:
        candidate = chunk + char
        if len(chunk) and len(_b_word(candidate)) > room:
            words.append(_b_word(chunk))
            chunk = char
        else:
            chunk = candidate
    if chunk:
        words.append(_b_word(chunk))
    return words


def _b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def _fold(name: str, tokens: list[str]) -> bytes:
    """`Name: token token…` folded before a token where a line would pass MAX_LINE."""
    lines, line = [], f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > MAX_LINE and line != f"{name}:":
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    # Only an address can be non-ASCII (SMTPUTF8); everything else is ASCII by now.
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def unstructured(name: str, value: str) -> bytes:
    """An unstructured header (Subject, say) carrying `value` as text."""
    value = _text(value)
    if _is_plain(value) and all(len(word) <= MAX_LINE - len(name) - 2 for word in value.split(" ")):
        return _fold(name, value.split(" ") if value else [])
    return _fold(name, _encoded_words(value, 75))  # RFC 2047's longest encoded-word


def phrase(text: str) -> str:
    """A display name as it goes before `<address>`: an atom run, a quoted string,
    or one encoded-word; never anything a parser reads as another address.

    One word, even past RFC 2047's 75 characters, because readers disagree about
    the space between two adjacent words in a phrase (Python keeps it, the RFC
    drops it); every mail program we know reads a long word, and a name is at
    most 100 characters, so the line stays far below SMTP's 998.
    """
    text = _text(text)
    if not text:
        return ""
    if _is_plain(text):
        if not _ATOM_SPECIALS.search(text):
            return text
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _b_word(text)


def check_address(address: str) -> str:
    """An address safe in a header and an SMTP command, or `HeaderError`."""
    if not address or "@" not in address or _UNSAFE_ADDRESS.search(address):
        raise HeaderError(f"unusable address {address!r}")
    return address


def mailbox(address: str, name: str = "") -> str:
    """`Name <address>`, or the bare address when there is no name."""
    check_address(address)
    shown = phrase(name)
    return f"{shown} <{address}>" if shown else address


def address_header(name: str, address: str, display_name: str = "") -> bytes:
    value = mailbox(address, display_name)
    return _fold(name, value.split(" "))
