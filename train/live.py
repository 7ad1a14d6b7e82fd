"""DVCLive for the train stage: the latest virtual epoch's metrics while the stage runs.

After each virtual epoch (torch) or the single fit (scikit-learn) the stage hands
:func:`log_latest` every curves row so far, and DVCLive rewrites ``metrics/training/metrics.json``
(``step`` is the virtual epoch; then ``train_loss``, ``valid_loss``, ``valid_accuracy``, and for
the torch model ``learning_rate`` and ``beta1``). ``dvc.yaml`` declares that file as a metric
of the train stage, so ``dvc exp show`` (and VS Code's and DVC Studio's experiment tables)
show a running experiment's progress before it finishes.

What keeps it reproducible (``dvc.lock`` hashes the file):
- the summary is rebuilt from the rows alone on every call, and a resumed run first calls
  :func:`log_latest` with the rows its checkpoint holds, so a killed and resumed run writes the
  same bytes as an uninterrupted one: no step repeated or missed;
- no timestamps (``log_metric(..., timestamp=False)``), no system monitoring, no report;
- ``save_dvc_exp=False``: run outside DVC (``python -m train``) DVCLive saves no experiment
  ref; ``dvcyaml=False``: it leaves the committed ``dvc.yaml`` alone (the file is declared
  there by hand);
- ``plot=False``: the per-epoch history stays in ``metrics/training_curves.json`` alone (the
  plots' data), not duplicated into DVCLive's per-metric ``.tsv`` files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dvclive import Live

LIVE_DIR = Path("metrics/training")
LIVE_METRICS = LIVE_DIR / "metrics.json"
Row = dict[str, float | int]


def latest_metrics(curves: list[Row]) -> tuple[int, Row]:
    """The step (virtual epoch) and the metrics of the last row of ``curves``."""
    if not curves:
        raise ValueError("no virtual epoch has finished yet")
    row = curves[-1]
    return int(row["virtual_epoch"]), {name: value for name, value in row.items() if name != "virtual_epoch"}


def open_live(directory: Path = LIVE_DIR) -> Live:
    """A DVCLive logger for ``directory`` that writes nothing run-dependent (module docstring)."""
    # Imported here: DVCLive imports much of DVC, which the tests of pure functions do not need.
    # Importing DVC wraps sys.stdout and sys.stderr (colorama.init, for Windows consoles); put
    # them back, or the progress bar's log redirection (tqdm) no longer knows the stage's log
    # handler for a console one and every log line comes out twice.
    stdout, stderr = sys.stdout, sys.stderr
    from dvclive import Live

    sys.stdout, sys.stderr = stdout, stderr
    return Live(
        dir=str(directory),
        resume=False,
        report=None,
        save_dvc_exp=False,
        dvcyaml=False,
        monitor_system=False,
    )


def log_latest(live: Live, curves: list[Row]) -> None:
    """Rewrite DVCLive's summary from ``curves``: the last row, with its virtual epoch as step."""
    step, metrics = latest_metrics(curves)
    live.summary = {}  # only the rows decide the file, whatever this process logged before
    live.step = step
    for name, value in metrics.items():
        live.log_metric(name, value, timestamp=False, plot=False)
    live.next_step()  # writes the summary and tells VS Code a step is done


def close_live(live: Live) -> None:
    """End the DVCLive run: the summary stays that of the last row logged."""
    live.end()
