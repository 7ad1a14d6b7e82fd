"""Data stages: ``python -m prepare_data.get`` (get_data) and ``python -m prepare_data``."""

from common.runtime import pin_cpu_kernels

pin_cpu_kernels()  # before numpy or torch loads: see common/runtime.py
