"""The entry point of every stage: bad input becomes one line and a non-zero exit.

``python -m <stage>`` runs ``run_stage(name, main)``: it logs as ``<name>: ...`` with secrets
redacted, pins and checks the numeric runtime (``common.runtime``), and turns
``PipelineError``, ``OSError`` and signals into one line and an exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from common.errors import (
    Interrupted,
    PipelineError,
    describe_os_error,
    install_signal_handlers,
    raise_if_interrupted,
    redact_record,
    redact_urls,
    shorten,
)
from common.runtime import check_runtime, log_overrides


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``; on ``PipelineError`` print one line and exit non-zero."""
    logging.basicConfig(level=logging.INFO, format=f"{name}: %(message)s", stream=sys.stderr, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact_record)
    install_signal_handlers()
    try:
        log_overrides()
        check_runtime()
        main()
        raise_if_interrupted()
        code = 0
    except PipelineError as error:
        print(f"{name}: error: {shorten(redact_urls(str(error)))}", file=sys.stderr)
        code = 2
    except OSError as error:  # disk full, read-only folder, permissions: the path and the reason
        print(f"{name}: error: {shorten(redact_urls(describe_os_error(error)))}", file=sys.stderr)
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


class StageArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line, as every other error of a stage (argparse's own
    prints its usage block first); ``--help`` still shows the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
