"""One error type for bad input, and the entry point that turns it into one clear line."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType


class PipelineError(Exception):
    """Bad input or settings. The message names the file, column, row or key at fault."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``; on ``PipelineError`` print one line and exit non-zero."""
    logging.basicConfig(level=logging.INFO, format=f"{name}: %(message)s", stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_redact_record)
    from common.runtime import check_runtime, log_overrides  # it imports this module

    install_signal_handlers()
    try:
        log_overrides()
        check_runtime()
        main()
        raise_if_interrupted()
        code = 0
    except PipelineError as error:
        print(f"{name}: error: {redact_urls(str(error))}", file=sys.stderr)
        code = 2
    except OSError as error:  # disk full, read-only folder, permissions: the path and the reason
        print(f"{name}: error: {redact_urls(describe_os_error(error))}", file=sys.stderr)
        code = 2
    except Interrupted as signalled:
        print(f"{name}: interrupted ({signalled.name}); no output half-written", file=sys.stderr)
        code = 128 + signalled.number
    except KeyboardInterrupt:
        print(f"{name}: interrupted (SIGINT); no output half-written", file=sys.stderr)
        code = 130
    exit_now(code)


def exit_now(code: int) -> None:
    """Flush and end the process with ``code``, skipping the interpreter's teardown.

    Every output is written and renamed by now, and every thread of ours joined. What is left
    is C++ static destructors, where pyarrow's thread pools at times abort a process that has
    finished its work (``terminate called without an active exception``, exit -6): once or
    twice per full test suite on a loaded 2-core machine, in check_params, get_data and
    predict, each after the stage's last line. A stage's exit code must say whether it
    worked, so teardown is skipped, as ``os._exit`` does."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


# The user name and password of a URL (`http://KEY:SECRET@host`, `s3://KEY:SECRET@bucket`):
# everything after `://` up to an `@`, within one token; and `user:password@` anywhere, for
# a URL that lost its `//` (pathlib writes `data/https://u:p@host` as `data/https:/u:p@host`).
_URL_USERINFO = re.compile(r"(?<=://)[^\s'\"@]*@")
_USER_PASSWORD = re.compile(r"[^\s'\"/@:]+:[^\s'\"/@]+@")
# The query parameters that carry a signature or a token: presigned S3 (SigV4 and V2) and GCS
# URLs, Azure SAS tokens, OAuth tokens in a URL.
_SIGNED_QUERY = re.compile(
    r"(?i)([?&;](?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential|signature|sig|access_token|token|awsaccesskeyid)=)[^\s'\"&#]*"
)


def find_secret(text: str) -> str | None:
    """What kind of secret ``text`` holds, if any (a URL's password, a signed URL's query)."""
    userinfo = _URL_USERINFO.search(text)
    if userinfo is not None and ":" in userinfo.group(0):
        return "a URL with a user name and password"
    if _USER_PASSWORD.search(text):
        return "a user name and password (user:password@)"
    if _SIGNED_QUERY.search(text):
        return "a signed URL (a signature or token in its query)"
    return None


def redact_urls(text: str) -> str:
    """``text`` with the credentials of every URL in it (``user:password@``, a signature or a
    token in the query) replaced by ``***``."""
    text = _URL_USERINFO.sub("***@", text)
    text = _USER_PASSWORD.sub("***@", text)
    return _SIGNED_QUERY.sub(r"\1***", text)


def _redact_record(record: logging.LogRecord) -> bool:
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
