"""Keyed batch predictions: ``python -m predict --input X --output Y --key ID``."""

from common.runtime import pin_cpu_kernels

pin_cpu_kernels()  # before numpy or torch loads: see common/runtime.py
