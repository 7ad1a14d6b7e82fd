"""One error type for bad input, and the entry point that turns it into one clear line."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable


class PipelineError(Exception):
    """Bad input or settings. The message names the file, column, row or key at fault."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's ``main``; on ``PipelineError`` print one line and exit non-zero."""
    logging.basicConfig(level=logging.INFO, format=f"{name}: %(message)s", stream=sys.stderr, force=True)
    from common.runtime import check_runtime, log_overrides  # it imports this module

    try:
        log_overrides()
        check_runtime()
        main()
    except PipelineError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(f"{name}: interrupted; outputs left as they were", file=sys.stderr)
        sys.exit(130)
