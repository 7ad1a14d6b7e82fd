"""The optional parts (pyproject.toml's extras) that params.yaml asks for, checked up front.

check_params runs this before DVC deletes any stage's outputs, so that a model whose section
names an extra (``Section.EXTRA``: `train.model: torch` needs the torch extra) fails without it
in one line naming the install command, not after minutes of work with the last good model gone.
"""

from __future__ import annotations

import importlib.util

from common.errors import PipelineError
from common.params import Params

# extra -> the module it installs; a model's extra comes from its params section (EXTRA).
EXTRA_MODULES = {"spark": "pyspark"}


def needed_extras(params: Params) -> dict[str, tuple[str, str]]:
    """Each extra these params need: the module it installs, and the param that needs it."""
    needed = {}
    model_extra = type(params.train.model_params).EXTRA
    if model_extra is not None:
        extra, module = model_extra
        needed[extra] = (module, f"train.model: {params.train.model}")
    if params.split.engine == "spark":
        needed["spark"] = (EXTRA_MODULES["spark"], "split.engine: spark")
    return needed


def check_extras(params: Params) -> None:
    for extra, (module, reason) in needed_extras(params).items():
        if importlib.util.find_spec(module) is None:
            raise PipelineError(
                f"{reason} needs the {extra} extra, which is not installed: make install EXTRAS={extra}"
            )
