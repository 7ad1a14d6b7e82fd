"""One error type for bad input; secrets kept out of messages; signals turned into exceptions."""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import signal
from collections.abc import Iterator
from types import FrameType


class PipelineError(Exception):
    """Bad input or settings. The message names the file, column, row or key at fault."""


# The user name and password of a URL (`http://KEY:SECRET@host`, `s3://KEY:SECRET@bucket`):
# everything after `://` up to an `@`, within one token.
_URL_USERINFO = re.compile(r"(?<=://)[^\s'\"@]*@")
# What ends the token before an `@` (a `user:password@` lies within one token).
_TOKEN_ENDS = " \t\n\r\v\f'\"@"
# The query parameters that carry a signature or a token: presigned S3 (SigV4 and V2) and GCS
# URLs, Azure SAS tokens, OAuth tokens in a URL.
_SIGNED_QUERY = re.compile(
    r"(?i)([?&;](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential|signature|sig|access_token|token|awsaccesskeyid|client_secret|api_key|"
    r"apikey|password|secret)=)[^\s'\"&#]*"
)
# The longest line an error prints: a value read from a file or params.yaml can be any length.
MAX_MESSAGE = 1000


def _user_passwords(text: str) -> list[tuple[int, int]]:
    """(start, end) of each ``user:password@`` in ``text``: within the token before an ``@``, a
    user name (no ``/`` or ``:``), a ``:`` and a password, which may hold ``/`` (AWS secret
    keys do). A ``:`` followed by ``/`` ends a scheme (``https:/``, as pathlib writes
    ``https://``), not a user name. Linear in the text's length, where a regular expression
    for the same backtracks (quadratic: 17 s for a 78,000-character line)."""
    spans = []
    position = 0
    while (at := text.find("@", position)) >= 0:
        start = max(text.rfind(end, position, at) for end in _TOKEN_ENDS) + 1
        start = max(start, position)
        colon = text.find(":", start, at - 1)
        while colon >= 0 and text.startswith("/", colon + 1):
            colon = text.find(":", colon + 1, at - 1)
        if colon >= 0:
            user = max(text.rfind("/", start, colon), text.rfind(":", start, colon)) + 1
            if colon > max(user, start):
                spans.append((max(user, start), at + 1))
        position = at + 1
    return spans


def find_secret(text: str) -> str | None:
    """What kind of secret ``text`` holds, if any (a URL's password, a signed URL's query)."""
    userinfo = _URL_USERINFO.search(text)
    if userinfo is not None and ":" in userinfo.group(0):
        return "a URL with a user name and password"
    if _user_passwords(text):
        return "a user name and password (user:password@)"
    if _SIGNED_QUERY.search(text):
        return "a signed URL (a signature or token in its query)"
    return None


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it (``user:password@``, a signature or a
    token in the query) replaced by ``***``."""
    text = _URL_USERINFO.sub("***@", text)
    for start, end in reversed(_user_passwords(text)):
        text = f"{text[:start]}***@{text[end:]}"
    return _SIGNED_QUERY.sub(r"\1***", text)


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` as one printable line, cut to ``limit`` characters, saying how many were cut.
    Control characters (a newline, ESC, a right-to-left mark) from a path, a column name or a
    key are escaped: they would split the line or rewrite the terminal."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def redact_record(record: logging.LogRecord) -> bool:
    """A logging filter: no log line shows a URL's credentials."""
    message = record.getMessage()
    if "@" in message or "=" in message:
        record.msg, record.args = redact_urls(message), None
    return True


class Interrupted(BaseException):
    """SIGTERM (or another signal) arrived: unwinds like Ctrl-C, so temp files are removed."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number
        self.name = signal.Signals(number).name


# Signals that arrived while interrupts were deferred (``defer_interrupts``); None: not deferring.
_deferred: list[int] | None = None
# Every signal that raised: a library's bare `except:` (one ran in an import during get_data's
# generating) can swallow the exception, so `raise_if_interrupted` raises it again.
_received: list[int] = []


def _interrupt(number: int, frame: FrameType | None) -> None:
    if _deferred is not None:
        _deferred.append(number)
        return
    _received.append(number)
    _raise(number)


def _raise(number: int) -> None:
    if number == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(number)


def raise_if_interrupted() -> None:
    """Raise the interrupt of a signal that arrived before, if any, even if it was swallowed."""
    if _received:
        _raise(_received[0])


@contextlib.contextmanager
def defer_interrupts() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP that arrive in the block take effect at its end: used around
    the renames of an output set, so that a signal never leaves the set half-replaced."""
    global _deferred
    if _deferred is not None:  # nested: the outer block raises
        yield
        return
    _deferred = []
    try:
        yield
    finally:
        pending, _deferred = _deferred, None
        if pending:
            _interrupt(pending[0], None)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP (``kill``, a closed terminal, a CI timeout) unwind the stage like
    Ctrl-C does: every ``finally`` runs, temp outputs are removed, one line is printed."""
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, _interrupt)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored
        signal.signal(signal.SIGINT, _interrupt)
    # A parent may hand them down blocked (the mask survives exec): then a `kill` would wait,
    # pending, until the stage had finished.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGHUP, signal.SIGINT})


def describe_os_error(error: OSError) -> str:
    """One line for an ``OSError``: the path (when the error has one) and the reason."""
    text = str(error).strip()
    reason = error.strerror or (text.splitlines()[0] if text else type(error).__name__)
    if error.errno == errno.ENOSPC or "No space left on device" in text:
        reason = "No space left on device"
    paths = [p for p in (error.filename, error.filename2) if p is not None]
    where = " -> ".join(str(p) for p in paths)
    return f"{where}: {reason}" if where else reason
