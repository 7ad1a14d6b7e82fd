"""The torch model's entry in train/registry.py: registered, every key of its section among
the `make experiments` columns (tests/test_registry.py: the registry itself)."""

from __future__ import annotations

import re

from torch_model.training import MODEL
from train.registry import MODELS, model_columns


def test_the_torch_entry_is_registered_and_compares_every_key() -> None:
    assert MODELS["torch"] is MODEL and MODEL.compare is None and MODEL.launch is not None
    keep = re.compile(model_columns())
    assert keep.match("train.torch.dropout") and keep.match("train.torch.schedule")
