"""Data stages: ``python -m prepare_data.get`` (get_data) and ``python -m prepare_data``."""

import importlib
import os
import sys

from common.runtime import pin_cpu_kernels

pin_cpu_kernels()  # before numpy or torch loads: see common/runtime.py


def load_pyarrow_with_jemalloc() -> None:
    """Load pyarrow with jemalloc as its allocator, on Linux, unless pyarrow is loaded already
    or ``ARROW_DEFAULT_MEMORY_POOL`` names another. pyarrow reads that setting once, as it
    loads; it is set for that moment only, not for the processes this one starts.

    pyarrow's default allocator, mimalloc, held on to the pages of buffers that one thread
    allocated (the CSV reader's) and another freed (the writers', the report's), so the
    stage's peak RSS grew with its input. Measured with ``benchmarks/prepare_data.py``
    (interleaved runs, loaded 2-core machine): at 10M rows a peak of 273 MiB against 368 with
    mimalloc, for the same CPU (4.11 s against 4.15); ``pa.set_memory_pool`` once loaded moves only part of the
    buffers (the parquet writer's stay with mimalloc): 319 MiB. Only the allocator changes,
    not a byte of the outputs. pyarrow's Linux wheels have jemalloc (its macOS and Windows
    wheels do not, and there nothing is changed); a pyarrow built without it prints one
    warning line and keeps its default.
    """
    setting = "ARROW_DEFAULT_MEMORY_POOL"
    if "pyarrow" in sys.modules or setting in os.environ or not sys.platform.startswith("linux"):
        return
    os.environ[setting] = "jemalloc"
    try:
        importlib.import_module("pyarrow")
    finally:
        del os.environ[setting]


load_pyarrow_with_jemalloc()
