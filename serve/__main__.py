"""``python -m serve [--rev REV] [--host H] [--port P]``: the model as an HTTP service.

Without ``--rev`` it serves the workspace's ``model/``; with it, that revision's model
through DVC's API, after checking it against that revision's ``dvc.lock``. A model that
fails its checks is refused with one line before the server starts. ``SERVE_API_TOKEN``
turns on bearer-token access control. serve/README.md has the details.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

try:
    import uvicorn

    from serve.app import create_app
except ModuleNotFoundError as missing:  # an extra, not the core: say how to install it
    sys.exit(
        f"serve: error: {missing.name} is not installed: the service needs the serve extra (make install EXTRAS=serve)"
    )

from common.errors import PipelineError
from common.stage import StageArgumentParser, run_stage
from serve.model_source import revision_model, workspace_model
from train.model_store import MODEL_DIR, UNLOCKED_FLAG, UNLOCKED_HELP

TOKEN_VARIABLE = "SERVE_API_TOKEN"
log = logging.getLogger("serve")
# Reading a revision from an S3 remote: botocore's INFO lines (where it found credentials) are noise.
for _name in ("botocore", "aiobotocore", "s3fs"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, exiting 0 after a graceful shutdown on SIGTERM (an orchestrator's
    ordinary stop) instead of re-raising the signal; SIGINT still ends it as a Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535 (``--port`` or ``SERVE_PORT``)."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} (or SERVE_PORT): not a port number, 1 to 65535")
    return int(text)


def batch_size(text: str) -> int:
    """``--max-batch``: 1 to 1,000 texts per model call."""
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"{text[:20]!r}: not a whole number from 1 to 1000")
    return int(text)


def wait_ms(text: str) -> float:
    """``--max-wait-ms``: 0 to 1,000 ms; more would hold every request that long or, with
    ``inf``, for good."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1000:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text[:20]!r}: not a number of milliseconds from 0 to 1000")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = StageArgumentParser(prog="python -m serve", description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="git commit, branch, tag or DVC experiment whose model to serve")
    parser.add_argument(
        "--model", type=Path, default=MODEL_DIR, help="workspace model folder (without --rev)"
    )
    parser.add_argument(UNLOCKED_FLAG, action="store_true", help=f"without --rev: {UNLOCKED_HELP}")
    parser.add_argument("--host", default=os.environ.get("SERVE_HOST", "127.0.0.1"))
    # A string default: argparse checks it with `port_number` too, so a bad SERVE_PORT is one line.
    parser.add_argument("--port", type=port_number, default=os.environ.get("SERVE_PORT", "8000"))
    parser.add_argument(
        "--max-batch", type=batch_size, default=64, help="most single-text requests per model call (1-1000)"
    )
    parser.add_argument(
        "--max-wait-ms",
        type=wait_ms,
        default=0.0,
        help="extra wait for more texts to fill a batch (0-1000, default 0)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")
    return parser.parse_args(argv)


def check_address(host: str, port: int) -> None:
    """Fail in one line, before the model loads, when ``host:port`` cannot be listened on (in
    use, or no such address): uvicorn's own message comes later, among its log lines."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        reason = str(error.strerror or error).split(" (while attempting")[0]  # create_server's addition
        raise PipelineError(f"--host/--port: cannot listen on {host}:{port}: {reason}") from None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_address(args.host, args.port)
    model = (
        revision_model(args.rev) if args.rev else workspace_model(args.model, unlocked=args.unlocked_model)
    )
    token = os.environ.get(TOKEN_VARIABLE)
    if token is not None and not token.strip():
        # An empty token would leave the service open while the operator believes it guarded.
        raise PipelineError(
            f"{TOKEN_VARIABLE}: set but empty; set a token, or unset it to serve without access control"
        )
    token = token or None
    log.info(
        "serving %s (md5 %s) on http://%s:%d; access control: %s",
        model.where,
        model.info["md5"],
        args.host,
        args.port,
        f"bearer token from {TOKEN_VARIABLE}"
        if token
        else f"none ({TOKEN_VARIABLE} unset: the service is open)",
    )
    app = create_app(model, token=token, max_batch=args.max_batch, max_wait_s=args.max_wait_ms / 1000)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=args.access_log,
        timeout_graceful_shutdown=30,
        log_config=None,
    )
    server = GracefulServer(config)
    server.run()
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    run_stage("serve", main)
