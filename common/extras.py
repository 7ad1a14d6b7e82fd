"""The optional parts (pyproject.toml's extras) that params.yaml asks for, checked up front.

check_params runs this before DVC deletes any stage's outputs, so that `train.model: torch`
without torch installed fails in one line naming the install command, not after minutes of
work with the last good model gone.
"""

from __future__ import annotations

import importlib.util

from common.errors import PipelineError
from common.params import Params

# extra -> the module it installs.
EXTRA_MODULES = {"torch": "torch", "spark": "pyspark"}


def needed_extras(params: Params) -> dict[str, str]:
    """Each extra these params need, with the param that needs it."""
    needed = {}
    if params.train.model == "torch":
        needed["torch"] = "train.model: torch"
    if params.split.engine == "spark":
        needed["spark"] = "split.engine: spark"
    return needed


def check_extras(params: Params) -> None:
    for extra, reason in needed_extras(params).items():
        if importlib.util.find_spec(EXTRA_MODULES[extra]) is None:
            raise PipelineError(
                f"{reason} needs the {extra} extra, which is not installed: make install EXTRAS={extra}"
            )
