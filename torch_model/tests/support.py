"""``python -m train`` of the torch model in a temp folder (tests/train_support.py: the data
and the runner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests import train_support
from torch_model.params import TorchParams

# A model small enough to train on a few hundred rows in about a second.
SMALL = TorchParams(
    device="cpu", embedding_dim=16, channels=16, batch_size=16, stop_point=1.5, checkpoints=3, min_count=1
)


def make_stage_folder(
    folder: Path, train_rows: int, torch_settings: dict[str, Any], model: str = "torch"
) -> Path:
    """A folder with params.yaml and prepared train/valid splits, ready for ``python -m train``:
    ``train.torch`` on the CPU with ``torch_settings``."""
    torch = {"device": "cpu", **torch_settings}
    return train_support.make_stage_folder(folder, train_rows, model, torch=torch)
