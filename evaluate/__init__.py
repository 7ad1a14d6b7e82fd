"""evaluate stage: ``python -m evaluate`` scores the test split."""

from common.runtime import pin_cpu_kernels

pin_cpu_kernels()  # before numpy or torch loads: see common/runtime.py
