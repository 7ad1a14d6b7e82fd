"""``python -m predict`` shows its progress (rows, rate, ETA) on a terminal, and nothing of it
in a log: a real process with its stderr on a pseudo-terminal, then on a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import ROOT
from tests.conftest import test_env as stage_env
from tests.model_support import NEGATIVE, POSITIVE, small_model

ROWS = 200_000


def scored_input(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "model"
    small_model(model)
    texts = [POSITIVE[0], NEGATIVE[0]] * (ROWS // 2)
    source = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"id": range(ROWS), "text": texts}), source, row_group_size=1 << 16)
    return model, source


def command(tmp_path: Path, model: Path, source: Path) -> list[str]:
    output = tmp_path / "scored.parquet"
    return [sys.executable, "-m", "predict", "--input", str(source), "--output", str(output),
            "--key", "id", "--text-column", "text", "--model", str(model), "--unlocked-model"]  # fmt: skip


def test_predict_shows_rows_rate_and_eta_on_a_terminal_only(tmp_path: Path) -> None:
    model, source = scored_input(tmp_path)
    env = stage_env()
    env["PYTHONPATH"] = str(ROOT)
    leader, follower = pty.openpty()
    # A terminal of 24 x 120 (a fresh pty is 0 x 0, where tqdm draws an empty line).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    # Read while it runs: a pty holds a few KiB, and a writer that fills it blocks for good.
    try:
        done = subprocess.Popen(
            command(tmp_path, model, source),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                data = os.read(leader, 1 << 16)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not data:
                break
            shown += data
        done.wait(timeout=300)
    finally:
        os.close(leader)
    assert done.returncode == 0, shown.decode(errors="replace")
    text = shown.decode(errors="replace")
    assert "predict: 100%" in text and "200k/200k" in text, text  # rows of the total
    assert "rows/s" in text and "<00:00" in text, text  # the rate, and the ETA after the elapsed time

    logged = subprocess.run(
        command(tmp_path, model, source), cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert logged.returncode == 0, logged.stderr
    assert "rows/s" not in logged.stderr and "%|" not in logged.stderr, logged.stderr
    assert "200000 rows scored" in logged.stderr
